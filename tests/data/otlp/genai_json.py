"""A test agent that knows OTLP/JSON but not reev: it builds one ExportTraceServiceRequest
by the OTLP/JSON spec (hex ids, int64 as strings, enums as integers) holding a GenAI chat
span with token usage, two execute_tool spans and an OpenInference LLM span, and either
appends it as one line to a file (`file PATH`) or POSTs it to the OTLP/HTTP traces endpoint
(`post`: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces),
as an instrumented program would; `late` sends the request and exits without waiting for
the answer. Standard library only."""
import json
import os
import secrets
import sys
import time
import urllib.request


def attr(key, value):
    if isinstance(value, bool):
        v = {"boolValue": value}
    elif isinstance(value, int):
        v = {"intValue": str(value)}
    elif isinstance(value, float):
        v = {"doubleValue": value}
    else:
        v = {"stringValue": value}
    return {"key": key, "value": v}


def span(trace_id, parent, name, start, attrs, kind=1):
    return {
        "traceId": trace_id,
        "spanId": secrets.token_hex(8),
        "parentSpanId": parent,
        "name": name,
        "kind": kind,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + 20_000_000),
        "attributes": [attr(k, v) for k, v in attrs.items()],
        "status": {"code": 1},
    }


def request():
    tp = os.environ.get("TRACEPARENT", "")
    parts = tp.split("-")
    if len(parts) == 4:
        trace_id, parent = parts[1], parts[2]
    else:
        trace_id, parent = secrets.token_hex(16), ""
    t = time.time_ns()
    root = span(trace_id, parent, "invoke_agent json-agent", t, {"gen_ai.operation.name": "invoke_agent"})
    rid = root["spanId"]
    spans = [
        root,
        span(trace_id, rid, "chat m1", t + 1_000_000, {
            "gen_ai.operation.name": "chat", "gen_ai.request.model": "m1",
            "gen_ai.usage.input_tokens": 120, "gen_ai.usage.output_tokens": 30}, kind=3),
        span(trace_id, rid, "execute_tool read_file", t + 2_000_000, {
            "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "read_file",
            "gen_ai.tool.call.arguments": json.dumps({"path": "ledger.json"})}),
        span(trace_id, rid, "execute_tool write_file", t + 3_000_000, {
            "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "write_file",
            "gen_ai.tool.call.arguments": json.dumps({"path": "ledger.json"})}),
        span(trace_id, rid, "ChatCompletion", t + 4_000_000, {
            "openinference.span.kind": "LLM", "llm.model_name": "m2",
            "llm.token_count.prompt": 7, "llm.token_count.completion": 3}),
    ]
    return {"resourceSpans": [{
        "resource": {"attributes": [attr("service.name", "json-agent")]},
        "scopeSpans": [{"scope": {"name": "json-agent"}, "spans": spans}],
    }]}


def late(url, body):
    """POST the request and exit at once, without waiting for the answer: a request still in
    flight (in the socket's buffers, not yet read by the receiver) when the agent ends."""
    import socket
    hostport, _, path = url[len("http://"):].partition("/")
    host, _, port = hostport.rpartition(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    head = (f"POST /{path} HTTP/1.1\r\nHost: {hostport}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    sock.sendall(head + body)
    print("the agent exits with its request in flight")
    sys.stdout.flush()
    os._exit(0)


def main():
    body = json.dumps(request())
    if sys.argv[1] == "late":
        url = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        late(url, body.encode())
    if sys.argv[1] == "file":
        with open(sys.argv[2], "a") as f:
            f.write(body + "\n")
        return
    url = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or (
        os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"].rstrip("/") + "/v1/traces")
    req = urllib.request.Request(url, data=body.encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        print("otlp status", r.status, r.read().decode())


main()
