#!/usr/bin/env python3
"""The model gateway's cost, side by side in one invocation (issue 20's targets):

1. Added latency: 1,000 small chat requests (2 sessions x 500, --jobs 2, one keep-alive
   connection each) through reev's gateway against the same requests straight to the local
   upstream. Target: p50 <= +1 ms, p99 <= +5 ms.
2. Time to the first streamed byte: 200 streamed requests (first event at once, the rest
   20 ms later) both ways. Target: p50 through the gateway <= direct + 1 ms.
3. Replay: the shipped suite (13 benchmarks x 3 attempts) with the LLM agent
   (agents/openai_agent.py) replayed from a recording, against the same suite run by the
   deterministic agent. Target: replay <= deterministic + 20%.

Prints wall and CPU time of every reev run; exits 1 on any miss.
Usage: bench/gateway.py PATH_TO_REEV
"""
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REEV = os.path.abspath(sys.argv[1])
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REQUESTS = 1000
STREAMS = 200

ANSWER = json.dumps({
    "id": "c", "object": "chat.completion", "model": "bench-model",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "done"},
                 "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}}).encode()


class Upstream(BaseHTTPRequestHandler):
    """A local OpenAI-compatible upstream: keep-alive, no Nagle, answers at once."""
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        if not body.get("stream"):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(ANSWER)))
            self.end_headers()
            self.wfile.write(ANSWER)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for n, event in enumerate([{"choices": [{"delta": {"content": "do"}}]},
                                   {"choices": [{"delta": {"content": "ne"}}]}]):
            if n:
                time.sleep(0.02)
            data = ("data: " + json.dumps(event) + "\n\n").encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
        done = b"data: [DONE]\n\n"
        self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(done), done))


# The load agent: N requests over one keep-alive connection, each timed; the latencies (ms)
# and the times to the first streamed byte go to $BENCH_OUT/<session>.json.
CLIENT = r'''
import http.client, json, os, time, urllib.parse
base = urllib.parse.urlsplit(os.environ.get("REEV_GATEWAY_URL") or os.environ["DIRECT_URL"])
conn = http.client.HTTPConnection(base.hostname, base.port)
conn.connect()
import socket; conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
path = base.path + "/chat/completions"
def ask(body):
    t0 = time.perf_counter()
    conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    r = conn.getresponse()
    first = r.read(1)
    t1 = time.perf_counter()
    r.read()
    return (t1 - t0) * 1000, (time.perf_counter() - t0) * 1000
lat, ttfb = [], []
for i in range(int(os.environ["N"])):
    lat.append(ask({"model": "bench-model", "messages": [{"role": "user", "content": f"q{i}"}]})[1])
for i in range(int(os.environ["S"])):
    ttfb.append(ask({"model": "bench-model", "stream": True,
                     "messages": [{"role": "user", "content": f"s{i}"}]})[0])
with open(os.path.join(os.environ["BENCH_OUT"], os.environ["REEV_SESSION_ID"] + ".json"), "w") as f:
    json.dump({"lat": lat, "ttfb": ttfb}, f)
print("done")
'''


def reev(args, cwd, env=None):
    """Run reev; return (wall, cpu) seconds. Fails the bench when reev fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    out = subprocess.run([REEV, "-q", *args], cwd=cwd, env={**os.environ, **(env or {})},
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        sys.exit(f"reev {' '.join(args)} failed ({out.returncode}): {out.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def collect(out_dir):
    lat, ttfb = [], []
    for name in os.listdir(out_dir):
        with open(os.path.join(out_dir, name)) as f:
            d = json.load(f)
        lat += d["lat"]
        ttfb += d["ttfb"]
        os.remove(os.path.join(out_dir, name))
    return lat, ttfb


def latency(work, port, misses):
    with open(os.path.join(work, "client.py"), "w") as f:
        f.write(CLIENT)
    out = os.path.join(work, "out")
    os.makedirs(out)
    url = f"http://127.0.0.1:{port}/v1"
    with open(os.path.join(work, "reev.yml"), "w") as f:
        f.write(f"""agents:
  direct:
    command: [python3, "{work}/client.py"]
    env: {{DIRECT_URL: "{url}"}}
  gateway:
    command: [python3, "{work}/client.py"]
    gateway: {{upstream: "{url}"}}
""")
    os.makedirs(os.path.join(work, "benchmarks"))
    with open(os.path.join(work, "benchmarks", "load.yml"), "w") as f:
        f.write("id: load\ndescription: gateway load\nprompt: load\ntimeout: 5m\nground_truth:\n  assertions:\n    - stdout_contains: done\n")
    env = {"N": str(REQUESTS // 2), "S": str(STREAMS // 2), "BENCH_OUT": out}
    results = {}
    for agent in ["direct", "gateway"]:
        wall, cpu = reev(["run", "--jobs", "2", "--attempts", "2", "--agent", agent,
                          "--run-id", f"lat-{agent}"], work, env)
        lat, ttfb = collect(out)
        if len(lat) != REQUESTS or len(ttfb) != STREAMS:
            sys.exit(f"{agent}: {len(lat)} requests and {len(ttfb)} streams measured")
        results[agent] = (lat, ttfb)
        print(f"{agent:8} {len(lat)} requests + {len(ttfb)} streams, --jobs 2: wall {wall:.2f} s, "
              f"reev CPU {cpu:.2f} s; latency p50 {pct(lat, .5):.3f} ms, p99 {pct(lat, .99):.3f} ms; "
              f"first streamed byte p50 {pct(ttfb, .5):.3f} ms")
    (dl, dt), (gl, gt) = results["direct"], results["gateway"]
    added50, added99 = pct(gl, .5) - pct(dl, .5), pct(gl, .99) - pct(dl, .99)
    ttfb_added = pct(gt, .5) - pct(dt, .5)
    print(f"added by the gateway: p50 {added50:+.3f} ms (target <= 1), p99 {added99:+.3f} ms "
          f"(target <= 5), first streamed byte p50 {ttfb_added:+.3f} ms (target <= 1)")
    if added50 > 1:
        misses.append(f"added p50 latency {added50:.3f} ms > 1 ms")
    if added99 > 5:
        misses.append(f"added p99 latency {added99:.3f} ms > 5 ms")
    if ttfb_added > 1:
        misses.append(f"first streamed byte {ttfb_added:.3f} ms later than direct (> 1 ms)")


def replay(work, port, misses):
    agent = os.path.join(REPO, "agents", "openai_agent.py")
    with open(os.path.join(work, "reev.yml"), "w") as f:
        f.write(f"""agents:
  deterministic:
    command: [python3, "{REPO}/agents/ledger_agent.py", --mode, reference]
  llm:
    command: [python3, "{agent}"]
    env: {{REEV_OPENAI_MODEL: bench-model}}
    gateway: {{upstream: "http://127.0.0.1:{port}/v1"}}
""")
    bench = os.path.join(REPO, "benchmarks")
    common = ["--benchmarks", bench, "--jobs", "2", "--attempts", "3"]
    reev(["run", *common, "--agent", "llm", "--run-id", "recorded"], work)
    det_wall, det_cpu = reev(["run", *common, "--agent", "deterministic", "--run-id", "det"], work)
    rep_wall, rep_cpu = reev(["run", *common, "--agent", "llm", "--replay", "recorded",
                              "--run-id", "replayed"], work)
    print(f"shipped suite, 13 x 3 at --jobs 2: deterministic agent wall {det_wall:.2f} s "
          f"(CPU {det_cpu:.2f} s); LLM agent replayed wall {rep_wall:.2f} s (CPU {rep_cpu:.2f} s); "
          f"ratio {rep_wall / det_wall:.2f} (target <= 1.20)")
    if rep_wall > det_wall * 1.2:
        misses.append(f"replay {rep_wall:.2f} s > deterministic {det_wall:.2f} s + 20%")


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    misses = []
    with tempfile.TemporaryDirectory(prefix="reev-bench-gw-") as work:
        os.makedirs(os.path.join(work, "lat"))
        latency(os.path.join(work, "lat"), port, misses)
        os.makedirs(os.path.join(work, "replay"))
        replay(os.path.join(work, "replay"), port, misses)
    server.shutdown()
    for m in misses:
        print(f"MISSED  gateway: {m}")
    if not misses:
        print("OK  gateway: latency, first byte and replay within their targets")
    sys.exit(1 if misses else 0)


if __name__ == "__main__":
    main()
