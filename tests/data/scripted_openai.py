#!/usr/bin/env python3
"""A scripted OpenAI-compatible chat-completions server for reev's tests (standard library).

  scripted_openai.py SCRIPT PORT_FILE LOG_FILE

SCRIPT is JSON: {"status": 503} answers every request with that HTTP status; otherwise
{"model": M, "turns": [...], "fail_first": N, "delay": S} (N optional: the first N requests,
of any conversation, get HTTP 503; S optional: seconds every answer waits, a slow model), or
{"garbage": true} (every request answered with bytes that are not HTTP), where turn i answers a request whose conversation already holds
i assistant messages — so concurrent sessions and repeated attempts each get the whole script.
A turn is {"tool_calls": [{"name": N, "arguments": {...}}], "usage": [in, out]} or
{"content": TEXT, "usage": [in, out]}. A request with "stream": true is answered as server-sent
events (HTTP/1.1, chunked): the content in pieces of "piece" characters (default 4), each
"chunk_delay_ms" apart (default 0), then a chunk with the usage when the request asked for it
(stream_options.include_usage), then [DONE]. Faults for a whole script: "malformed": true
answers `{"choices": [` (JSON cut short); "cut_stream": true sends two stream chunks and closes
the connection mid-body. The server listens on a free port of 127.0.0.1, writes
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
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def chunk(self, text):
        data = text.encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def stream(self, i, turn, body):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        content, step = turn.get("content") or "", SCRIPT.get("piece", 4)
        pieces = [content[k:k + step] for k in range(0, len(content), step)] or [""]
        for n, piece in enumerate(pieces):
            if n:
                time.sleep(SCRIPT.get("chunk_delay_ms", 0) / 1000)
            event = {"id": f"chatcmpl-{i}", "object": "chat.completion.chunk",
                     "model": SCRIPT["model"],
                     "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
            self.chunk("data: " + json.dumps(event) + "\n\n")
            if SCRIPT.get("cut_stream") and n == 1:
                self.close_connection = True
                self.connection.shutdown(2)
                return
        if (body.get("stream_options") or {}).get("include_usage"):
            prompt, completion = turn["usage"]
            self.chunk("data: " + json.dumps({
                "id": f"chatcmpl-{i}", "object": "chat.completion.chunk", "model": SCRIPT["model"],
                "choices": [], "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                                         "total_tokens": prompt + completion}}) + "\n\n")
        self.chunk("data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")

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
        if SCRIPT.get("malformed"):
            data = b'{"choices": ['
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        if body.get("stream"):
            return self.stream(i, turn, body)
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
