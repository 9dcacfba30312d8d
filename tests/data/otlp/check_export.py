"""Parse `reev export --format otlp-json` output with the OpenTelemetry protobuf classes
(opentelemetry-proto from PyPI) and protobuf's own JSON parser, strictly (unknown fields are
errors). OTLP/JSON ids are hex where the protobuf JSON mapping has base64: they are converted
first, as the OTLP spec says a reader must. Prints one JSON object per span."""
import base64
import json
import sys

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

IDS = ("traceId", "spanId", "parentSpanId")


def hex_ids_to_base64(o):
    if isinstance(o, dict):
        for k, v in o.items():
            if k in IDS and isinstance(v, str):
                o[k] = base64.b64encode(bytes.fromhex(v)).decode()
            else:
                hex_ids_to_base64(v)
    elif isinstance(o, list):
        for x in o:
            hex_ids_to_base64(x)


def value(v):
    kind = v.WhichOneof("value")
    return None if kind is None else getattr(v, kind) if kind not in ("array_value", "kvlist_value") else str(v)


for line in open(sys.argv[1]):
    d = json.loads(line)
    hex_ids_to_base64(d)
    req = json_format.ParseDict(d, ExportTraceServiceRequest(), ignore_unknown_fields=False)
    for rs in req.resource_spans:
        for ss in rs.scope_spans:
            for sp in ss.spans:
                print(json.dumps({
                    "name": sp.name,
                    "trace_id": sp.trace_id.hex(),
                    "span_id": sp.span_id.hex(),
                    "parent": sp.parent_span_id.hex(),
                    "status": sp.status.code,
                    "start": sp.start_time_unix_nano,
                    "end": sp.end_time_unix_nano,
                    "attrs": {kv.key: value(kv.value) for kv in sp.attributes},
                }))
