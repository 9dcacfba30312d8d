"""Benchmark agent: sends N GenAI spans (a chat span and execute_tool spans) to the session's
OTLP/HTTP endpoint in requests of 512 spans (the SDK's default batch), encoded as protobuf
(with opentelemetry-proto's classes, as the SDK's exporter does) or as OTLP/JSON. With
SEND=0 it builds the same requests and sends nothing: the baseline for reev's cost.
usage: otlp_agent.py N protobuf|json"""
import json
import os
import sys
import time
import urllib.request

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from google.protobuf import json_format

n, encoding = int(sys.argv[1]), sys.argv[2]
tp = os.environ.get("TRACEPARENT", "00-" + "ab" * 16 + "-" + "cd" * 8 + "-01").split("-")
trace_id, parent = bytes.fromhex(tp[1]), bytes.fromhex(tp[2])
url = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
send = os.environ.get("SEND", "1") == "1"
t0 = time.time_ns()


def batch(first, count):
    req = ExportTraceServiceRequest()
    ss = req.resource_spans.add().scope_spans.add()
    for i in range(first, first + count):
        s = ss.spans.add()
        s.trace_id, s.span_id, s.parent_span_id = trace_id, (i + 1).to_bytes(8, "big"), parent
        s.start_time_unix_nano = t0 + i * 1000
        s.end_time_unix_nano = t0 + i * 1000 + 500
        s.kind = 1
        def attr(k, v):
            kv = s.attributes.add()
            kv.key = k
            if isinstance(v, int):
                kv.value.int_value = v
            else:
                kv.value.string_value = v
        if i % 10 == 0:
            s.name = "chat m"
            attr("gen_ai.operation.name", "chat")
            attr("gen_ai.request.model", "m")
            attr("gen_ai.usage.input_tokens", 100)
            attr("gen_ai.usage.output_tokens", 20)
        else:
            s.name = "execute_tool read_file"
            attr("gen_ai.operation.name", "execute_tool")
            attr("gen_ai.tool.name", "read_file")
            attr("gen_ai.tool.call.arguments", json.dumps({"path": f"file{i}.txt"}))
    if encoding == "protobuf":
        return req.SerializeToString(), "application/x-protobuf"
    d = json_format.MessageToDict(req)
    for rs in d["resourceSpans"]:
        for sc in rs["scopeSpans"]:
            for sp in sc["spans"]:
                for k in ("traceId", "spanId", "parentSpanId"):
                    import base64
                    sp[k] = base64.b64decode(sp[k]).hex()
    return json.dumps(d).encode(), "application/json"


bodies = [batch(i, min(512, n - i)) for i in range(0, n, 512)]
for body, ctype in bodies:
    if send:
        r = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": ctype})
        with urllib.request.urlopen(r, timeout=30) as resp:
            resp.read()
