"""A test agent instrumented with the official OpenTelemetry Python SDK and its OTLP/HTTP
(protobuf) exporter, configured only by the standard OTEL_* environment: a GenAI chat span
with token usage and two execute_tool spans under an invoke_agent span. It knows nothing of
reev; it continues the trace in TRACEPARENT (the OTel environment carrier) when one is set."""
import json
import os

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

provider = TracerProvider(resource=Resource.create({"service.name": "sdk-agent"}))
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
tracer = provider.get_tracer("sdk-agent")
ctx = TraceContextTextMapPropagator().extract({"traceparent": os.environ.get("TRACEPARENT", "")})

with tracer.start_as_current_span("invoke_agent sdk-agent", context=ctx):
    with tracer.start_as_current_span("chat m1", kind=trace.SpanKind.CLIENT) as s:
        s.set_attribute("gen_ai.operation.name", "chat")
        s.set_attribute("gen_ai.request.model", "m1")
        s.set_attribute("gen_ai.usage.input_tokens", 120)
        s.set_attribute("gen_ai.usage.output_tokens", 30)
    for tool in ("read_file", "write_file"):
        with tracer.start_as_current_span(f"execute_tool {tool}") as s:
            s.set_attribute("gen_ai.operation.name", "execute_tool")
            s.set_attribute("gen_ai.tool.name", tool)
            s.set_attribute("gen_ai.tool.call.arguments", json.dumps({"path": "ledger.json"}))
provider.shutdown()
print("done")
