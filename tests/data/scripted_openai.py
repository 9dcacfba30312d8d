#!/usr/bin/env python3
"""A scripted OpenAI-compatible chat-completions server for reev's tests (standard library).

  scripted_openai.py SCRIPT PORT_FILE LOG_FILE

SCRIPT is JSON: {"status": 503} answers every request with that HTTP status; otherwise
{"model": M, "turns": [...], "fail_first": N, "delay": S} (N optional: the first N requests,
of any conversation, get HTTP 503; S optional: seconds every answer waits, a slow model), or
{"garbage": true} (every request answered with bytes that are not HTTP), where turn i answers a request whose conversation already holds
i assistant messages — so concurrent sessions and repeated attempts each get the whole script.
A turn is {"tool_calls": [{"name": N, "arguments": {...}}], "usage": [in, out]} or
{"content": TEXT, "usage": [in, out]}. The server listens on a free port of 127.0.0.1, writes
it to PORT_FILE (whole, by a rename) and appends each request body to LOG_FILE as a JSON line.
"""
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SCRIPT = json.load(open(sys.argv[1], encoding="utf-8"))
PORT_FILE, LOG_FILE = sys.argv[2], sys.argv[3]
FAILS = {"left": SCRIPT.get("fail_first", 0), "lock": threading.Lock()}


def fail_now():
    with FAILS["lock"]:
        if FAILS["left"] > 0:
            FAILS["left"] -= 1
            return True
        return False


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        with open(LOG_FILE, "a", encoding="utf-8") as f:
            f.write(json.dumps({"path": self.path, "auth": self.headers.get("Authorization"),
                                "body": body}) + "\n")
        if SCRIPT.get("garbage"):
            # Not HTTP at all: Python's client raises http.client.BadStatusLine.
            self.wfile.write(b"NOT HTTP\r\n\r\n")
            self.close_connection = True
            return
        if "status" in SCRIPT or fail_now():
            status = SCRIPT.get("status", 503)
            return self.reply(status, {"error": {"message": "scripted failure"}})
        if self.path != "/v1/chat/completions":
            return self.reply(404, {"error": {"message": f"no route {self.path}"}})
        time.sleep(SCRIPT.get("delay", 0))
        turns = SCRIPT["turns"]
        i = sum(1 for m in body["messages"] if m.get("role") == "assistant")
        turn = turns[min(i, len(turns) - 1)]
        message = {"role": "assistant", "content": turn.get("content")}
        if "tool_calls" in turn:
            message["tool_calls"] = [
                {"id": f"call_{i}_{k}", "type": "function",
                 "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])}}
                for k, c in enumerate(turn["tool_calls"])]
        prompt, completion = turn["usage"]
        self.reply(200, {
            "id": f"chatcmpl-{i}", "object": "chat.completion", "model": SCRIPT["model"],
            "choices": [{"index": 0, "message": message,
                         "finish_reason": "tool_calls" if "tool_calls" in turn else "stop"}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                      "total_tokens": prompt + completion},
        })


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
tmp = PORT_FILE + ".tmp"
with open(tmp, "w", encoding="utf-8") as f:
    f.write(str(server.server_address[1]))
os.rename(tmp, PORT_FILE)
server.serve_forever()
