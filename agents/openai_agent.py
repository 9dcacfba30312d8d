#!/usr/bin/env python3
"""A real LLM agent for reev: any OpenAI-compatible chat-completions server with tool calls
(llama.cpp's server, vLLM, Ollama, a hosted API). Python standard library only.

It reads the task (stdin, or REEV_PROMPT), then loops: model -> tool calls -> tool results
-> model, until the model answers without a tool call (its answer goes to stdout, exit 0),
calls `finish` (its output goes to stdout, and its exit code is the agent's), or the step
cap is reached (exit 1). Tools work on files in the scratch directory (the working
directory) only: read_file, write_file, append_file, list_files, finish.

Configuration (environment):
  REEV_GATEWAY_URL                           reev's model gateway for the session (set by reev
                                             for agents with `gateway:`; wins over the rest)
  REEV_OPENAI_BASE_URL (or OPENAI_BASE_URL)  e.g. http://127.0.0.1:8080/v1 (default
                                             https://api.openai.com/v1)
  OPENAI_API_KEY                             sent as a bearer token when set
  REEV_OPENAI_MODEL (or OPENAI_MODEL)        the model name; required
  REEV_OPENAI_MAX_STEPS                      model requests per session (default 20)
  REEV_OPENAI_RETRIES                        retries of a failed request (default 3)
  REEV_OPENAI_TIMEOUT                        seconds per request (default 120)

Every request is a `model_request` event in REEV_EVENTS with `model` (the configured name,
which reev's `prices:` are keyed by), `response_model` (what the server said),
`input_tokens` and `output_tokens` (the response's `usage`) and `duration_ms`; every tool call
is a `tool_call` event. When the API cannot be had (connection refused, timeouts, a dropped
connection, HTTP 5xx or 429 after the retries, a response that is not a chat completion) or
the agent is misconfigured (no model name, a setting that is not a number) it exits 75
(EX_TEMPFAIL): reev records the session as `error` — not judged — never as a failure of the
agent with a partial score.
"""
import json
import os
import socket
import sys
import time

# http.client and urllib cost ~50 ms to import (email, ssl): more than a replayed session's
# whole run. Plain http (reev's gateway, local servers) goes over a socket here; urllib is
# imported only for https.

EX_TEMPFAIL = 75
EVENTS = os.environ.get("REEV_EVENTS")
MAX_OUTPUT = 4000

TOOLS = [
    {"type": "function", "function": {
        "name": "read_file", "description": "Read a text file of the working directory.",
        "parameters": {"type": "object", "properties": {"path": {"type": "string"}},
                       "required": ["path"]}}},
    {"type": "function", "function": {
        "name": "write_file", "description": "Create or replace a text file.",
        "parameters": {"type": "object",
                       "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
                       "required": ["path", "content"]}}},
    {"type": "function", "function": {
        "name": "append_file", "description": "Append text to a file (created if missing).",
        "parameters": {"type": "object",
                       "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
                       "required": ["path", "content"]}}},
    {"type": "function", "function": {
        "name": "list_files", "description": "List the files under a directory (default: .).",
        "parameters": {"type": "object", "properties": {"path": {"type": "string"}}}}},
    {"type": "function", "function": {
        "name": "finish",
        "description": "End the task: print `output` and exit with `exit_code` (default 0).",
        "parameters": {"type": "object",
                       "properties": {"output": {"type": "string"},
                                      "exit_code": {"type": "integer"}},
                       "required": ["output"]}}},
]

SYSTEM = (
    "You are an agent working in a directory of files. Use the tools to read and change "
    "files. When done, call finish with the text to print (exactly what the task asks to "
    "print, nothing else) and the exit code the task asks for (0 by default)."
)


class ApiFailure(Exception):
    """The model API could not be had, or the agent is misconfigured: reev should record
    `error` (not judged), not `failed`."""


class Finish(Exception):
    def __init__(self, output, code):
        super().__init__(output)
        self.output, self.code = output, code


def event(kind, **fields):
    if EVENTS:
        with open(EVENTS, "a", encoding="utf-8") as f:
            f.write(json.dumps({"type": kind, **fields}) + "\n")


def inside(path):
    """A path of the working directory; absolute paths and `..` are refused."""
    if not isinstance(path, str) or not path or os.path.isabs(path):
        raise ValueError(f"path {path!r} must be relative to the working directory")
    norm = os.path.normpath(path)
    if norm == ".." or norm.startswith(".." + os.sep):
        raise ValueError(f"path {path!r} leaves the working directory")
    return norm


def tool(name, args):
    if name == "read_file":
        with open(inside(args.get("path")), encoding="utf-8") as f:
            return f.read()
    if name in ("write_file", "append_file"):
        path = inside(args.get("path"))
        if os.path.dirname(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "a" if name == "append_file" else "w", encoding="utf-8") as f:
            f.write(str(args.get("content", "")))
        return "ok"
    if name == "list_files":
        root = inside(args.get("path") or ".")
        return "\n".join(sorted(
            os.path.relpath(os.path.join(d, f), root)
            for d, _, files in os.walk(root) for f in files))
    if name == "finish":
        raise Finish(str(args.get("output", "")), int(args.get("exit_code") or 0))
    raise ValueError(f"unknown tool {name!r}")


def env_int(name, default):
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        raise ApiFailure(f"{name} must be a whole number, not {os.environ.get(name)!r}")


class HttpStatus(Exception):
    """The server answered with an error status."""

    def __init__(self, code):
        super().__init__(f"HTTP {code}")
        self.code = code


class Garbled(OSError):
    """The server closed or garbled the connection."""


def post(url, body, key, timeout):
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    data = json.dumps(body).encode()
    if url.startswith("http://"):
        status, payload = post_plain(url, data, headers, timeout)
    else:
        status, payload = post_tls(url, data, headers, timeout)
    if status >= 400:
        raise HttpStatus(status)
    return json.loads(payload.decode("utf-8"))


def post_plain(url, data, headers, timeout):
    """HTTP/1.1 POST over a plain socket: (status, body)."""
    hostport, _, path = url[len("http://"):].partition("/")
    host, _, port = hostport.rpartition(":") if ":" in hostport else (hostport, "", "80")
    head = [f"POST /{path} HTTP/1.1", f"Host: {hostport}", "Connection: close",
            f"Content-Length: {len(data)}"] + [f"{k}: {v}" for k, v in headers.items()]
    with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + data)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    raw = b"".join(chunks)
    top, sep, rest = raw.partition(b"\r\n\r\n")
    lines = top.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if not sep or len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise Garbled(f"not an HTTP response: {raw[:80]!r}")
    fields = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        fields[k.strip().lower()] = v.strip()
    if "chunked" in fields.get("transfer-encoding", "").lower():
        rest = unchunk(rest)
    elif "content-length" in fields:
        n = int(fields["content-length"])
        if len(rest) < n:
            raise Garbled(f"the answer was cut at {len(rest)} of {n} bytes")
        rest = rest[:n]
    return int(parts[1]), rest


def unchunk(raw):
    out = []
    while True:
        size_line, sep, raw = raw.partition(b"\r\n")
        try:
            size = int(size_line.split(b";")[0], 16)
        except ValueError:
            raise Garbled("a garbled chunk")
        if not sep or len(raw) < size:
            raise Garbled("the answer was cut inside a chunk")
        if size == 0:
            return b"".join(out)
        out.append(raw[:size])
        raw = raw[size + 2:]


def post_tls(url, data, headers, timeout):
    import http.client
    import urllib.error
    import urllib.request
    req = urllib.request.Request(url, data, headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, b""
    except http.client.HTTPException as e:
        raise Garbled(str(e)) from e


def complete(cfg, messages):
    """One chat completion, retried with backoff on connection errors, 429 and 5xx."""
    body = {"model": cfg["model"], "messages": messages, "tools": TOOLS}
    last = None
    for attempt in range(cfg["retries"] + 1):
        if attempt:
            time.sleep(min(0.5 * 2 ** (attempt - 1), 8))
        started = time.monotonic()
        try:
            data = post(cfg["url"], body, cfg["key"], cfg["timeout"])
            message = data["choices"][0]["message"]
        except HttpStatus as e:
            last = f"HTTP {e.code} from {cfg['url']}"
            if e.code == 429 or e.code >= 500:
                continue
            raise ApiFailure(last) from e
        except (OSError, TimeoutError) as e:
            # OSError: refused, reset, timed out, or (Garbled) closed or garbled (urllib's
            # URLError is one too).
            last = f"cannot reach {cfg['url']}: {e}"
            continue
        except (ValueError, KeyError, IndexError, TypeError) as e:
            raise ApiFailure(f"not a chat completion from {cfg['url']}: {e!r}") from e
        usage = data.get("usage") or {}
        event("model_request", model=cfg["model"], response_model=data.get("model"),
              input_tokens=usage.get("prompt_tokens", 0),
              output_tokens=usage.get("completion_tokens", 0),
              duration_ms=round((time.monotonic() - started) * 1000))
        return message, usage
    raise ApiFailure(f"{last} (after {cfg['retries'] + 1} tries)")


def run_tools(calls, messages):
    for call in calls:
        fn = call.get("function") or {}
        name, args = fn.get("name", ""), None
        try:
            args = json.loads(fn.get("arguments") or "{}")
            result = tool(name, args if isinstance(args, dict) else {})
        except Finish:
            event("tool_call", name=name, input=args, output="finish")
            raise
        except (OSError, ValueError, TypeError) as e:
            result = f"error: {e}"
        event("tool_call", name=name, input=args, output=result[:MAX_OUTPUT])
        messages.append({"role": "tool", "tool_call_id": call.get("id", ""),
                         "content": result[:MAX_OUTPUT]})


def config():
    model = os.environ.get("REEV_OPENAI_MODEL") or os.environ.get("OPENAI_MODEL")
    if not model:
        raise ApiFailure("set REEV_OPENAI_MODEL (or OPENAI_MODEL) to the model's name")
    base = (os.environ.get("REEV_GATEWAY_URL") or os.environ.get("REEV_OPENAI_BASE_URL")
            or os.environ.get("OPENAI_BASE_URL")
            or "https://api.openai.com/v1")
    return {
        "model": model,
        "url": base.rstrip("/") + "/chat/completions",
        "key": os.environ.get("OPENAI_API_KEY", ""),
        "retries": env_int("REEV_OPENAI_RETRIES", 3),
        "timeout": env_int("REEV_OPENAI_TIMEOUT", 120),
        "steps": env_int("REEV_OPENAI_MAX_STEPS", 20),
    }


def main():
    try:
        cfg = config()
    except ApiFailure as e:
        print(f"misconfigured: {e}", file=sys.stderr)
        return EX_TEMPFAIL
    prompt = sys.stdin.read() or os.environ.get("REEV_PROMPT", "")
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}]
    tokens = 0
    try:
        for step in range(1, cfg["steps"] + 1):
            message, usage = complete(cfg, messages)
            tokens += int(usage.get("prompt_tokens", 0)) + int(usage.get("completion_tokens", 0))
            event("metric", name="steps", value=step)
            event("metric", name="tokens", value=tokens)
            messages.append({k: v for k, v in message.items() if v is not None})
            calls = message.get("tool_calls") or []
            if not calls:
                print(message.get("content") or "")
                return 0
            run_tools(calls, messages)
    except Finish as f:
        print(f.output)
        return f.code
    except ApiFailure as e:
        print(f"model API failed: {e}", file=sys.stderr)
        return EX_TEMPFAIL
    print(f"gave up after {cfg['steps']} model requests", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
