"""A test agent that sends the session's OTLP endpoint what a broken exporter might: a
malformed protobuf body, malformed JSON, a wrong content type, a body over the 16 MiB limit,
and then a good OTLP/JSON request whose span has a foreign trace id. Prints one status per
request (or the connection error). Standard library only."""
import json
import os
import secrets
import time
import urllib.error
import urllib.request

url = os.environ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]


def post(body, ctype):
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": ctype})
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return str(r.status)
    except urllib.error.HTTPError as e:
        return str(e.code)
    except OSError as e:
        return "connection: " + type(e).__name__


t = time.time_ns()
good = {"resourceSpans": [{"scopeSpans": [{"spans": [{
    "traceId": secrets.token_hex(16), "spanId": secrets.token_hex(8), "name": "elsewhere",
    "kind": 1, "startTimeUnixNano": str(t), "endTimeUnixNano": str(t + 1000)}]}]}]}
statuses = [
    post(b"\xff\xff\xff\xff\x0f", "application/x-protobuf"),
    post(b'{"resourceSpans": [', "application/json"),
    post(b"<spans/>", "application/xml"),
    post(b" " * (17 * 1024 * 1024), "application/json"),
    post(json.dumps(good).encode(), "application/json"),
]
print(" ".join(statuses))
