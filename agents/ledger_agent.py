#!/usr/bin/env python3
"""Example agents for reev's shipped ledger suite. Offline, standard library only.

  --mode reference  solves every shipped benchmark (the deterministic reference agent)
  --mode naive      a weaker baseline: no overdraft checks, float rounding, no analysis
  --mode flaky      the reference solutions, but slow and failing on about a third of
                    sessions, chosen afresh in every run (seeded by REEV_SESSION_ID)

The task is named by REEV_BENCHMARK_ID; the prompt arrives on stdin, in REEV_PROMPT and
in argv. Each step is appended to the REEV_EVENTS file as a JSON line: the trace
(`model_request` with model, input_tokens, output_tokens; `tool_call`; `metric`).
"""
import hashlib
import json
import math
import os
import sys
import time

EVENTS = os.environ.get("REEV_EVENTS")
MODE = "reference"


def event(kind, **fields):
    if EVENTS:
        with open(EVENTS, "a", encoding="utf-8") as f:
            f.write(json.dumps({"type": kind, "ts": time.time(), **fields}) + "\n")


def read_json(path):
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    event("tool_call", name="read_file", input={"path": path}, output={"bytes": os.path.getsize(path)})
    return data


def write_json(path, data):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
    event("tool_call", name="write_file", input={"path": path}, output="ok")


def write_text(path, text, append=False):
    with open(path, "a" if append else "w", encoding="utf-8") as f:
        f.write(text)
    event("tool_call", name="append_file" if append else "write_file", input={"path": path}, output="ok")


def transfer(ledger, src, dst, amount, check=True):
    acc = ledger["accounts"]
    if src not in acc or dst not in acc:
        return False
    if check and acc[src] < amount:
        return False
    acc[src] -= amount
    acc[dst] += amount
    return True


def balance(_):
    print(read_json("ledger.json")["accounts"]["alice"])


def do_transfer(_):
    ledger = read_json("ledger.json")
    transfer(ledger, "alice", "bob", 30)
    write_json("ledger.json", ledger)


def transfer_insufficient(_):
    ledger = read_json("ledger.json")
    if transfer(ledger, "bob", "carol", 500, check=MODE != "naive"):
        write_json("ledger.json", ledger)
        print("done")
        return 0
    print("insufficient funds")
    return 3


def open_account(_):
    ledger = read_json("ledger.json")
    ledger["accounts"].setdefault("dave", 0)
    write_json("ledger.json", ledger)


def total(_):
    acc = read_json("ledger.json")["accounts"]
    print(json.dumps({"total": sum(acc.values()), "accounts": len(acc)}))


def richest(_):
    acc = read_json("ledger.json")["accounts"]
    print(max(sorted(acc), key=lambda name: acc[name]))


def multi_step(_):
    ledger = read_json("ledger.json")
    for src, dst, amount in [("alice", "bob", 40), ("bob", "carol", 70), ("carol", "alice", 10)]:
        transfer(ledger, src, dst, amount)
    write_json("ledger.json", ledger)
    print(json.dumps(ledger["accounts"]))


def statement(_):
    acc = read_json("ledger.json")["accounts"]
    names = sorted(acc) if MODE != "naive" else list(acc)
    write_text("statement.txt", "".join(f"{n}: {acc[n]}\n" for n in names))


def apply_batch(_):
    ledger = read_json("ledger.json")
    applied = rejected = 0
    for t in read_json("transactions.json"):
        if transfer(ledger, t["from"], t["to"], t["amount"], check=MODE != "naive"):
            applied += 1
        else:
            rejected += 1
    write_json("ledger.json", ledger)
    print(json.dumps({"applied": applied, "rejected": rejected}))


def interest(_):
    ledger = read_json("ledger.json")
    paid = 0
    for name, cents in ledger["accounts"].items():
        credit = round(cents * 0.025) if MODE == "naive" else (cents * 25) // 1000
        ledger["accounts"][name] = cents + credit
        paid += credit
    write_json("ledger.json", ledger)
    print(paid)


def audit_log(_):
    ledger = read_json("ledger.json")
    transfer(ledger, "bob", "alice", 25)
    write_json("ledger.json", ledger)
    write_text("audit.log", "transfer bob->alice 25\n", append=MODE != "naive")


def csv_export(_):
    acc = read_json("ledger.json")["accounts"]
    write_text("accounts.csv", "account,balance\n" + "".join(f"{n},{acc[n]}\n" for n in sorted(acc)))
    print(f"wrote {len(acc)} rows")


def reconcile(_):
    if MODE == "naive":
        time.sleep(0.2)
        print(json.dumps({"account": "alice", "difference": 0}))
        return 0
    acc = read_json("ledger.json")["accounts"]
    implied = {name: 0 for name in acc}
    for t in read_json("history.json"):
        if "from" in t:
            implied[t["from"]] -= t["amount"]
        implied[t["to"]] += t["amount"]
    for name in sorted(acc):
        if acc[name] != implied[name]:
            print(json.dumps({"account": name, "difference": acc[name] - implied[name]}))
            return 0
    return 1


SOLUTIONS = {
    "ledger.balance": balance,
    "ledger.transfer": do_transfer,
    "ledger.transfer-insufficient": transfer_insufficient,
    "ledger.open-account": open_account,
    "ledger.total": total,
    "ledger.richest": richest,
    "ledger.multi-step": multi_step,
    "ledger.statement": statement,
    "ledger.apply-batch": apply_batch,
    "ledger.interest": interest,
    "ledger.audit-log": audit_log,
    "ledger.csv-export": csv_export,
    "ledger.reconcile": reconcile,
}


def main():
    global MODE
    args = sys.argv[1:]
    if len(args) >= 2 and args[0] == "--mode":
        MODE = args[1]
    prompt = sys.stdin.read() or os.environ.get("REEV_PROMPT", "")
    bench = os.environ.get("REEV_BENCHMARK_ID", "")
    attempt = int(os.environ.get("REEV_ATTEMPT", "1"))
    started = time.time()
    # What a model-backed agent would report: one request with its token counts, and the
    # total as a `tokens` metric (the README's token query reads it).
    input_tokens, output_tokens = len(prompt.split()), 12
    event("model_request", model=f"ledger-{MODE}", input_tokens=input_tokens, output_tokens=output_tokens)
    event("metric", name="tokens", value=input_tokens + output_tokens)
    if MODE == "flaky":
        # Seeded by the session id, which differs in every run: a run's failures are not the
        # last run's, as with a real flaky agent, and about a third of sessions fail
        # (86 of 256 byte values).
        seed = os.environ.get("REEV_SESSION_ID") or f"{bench}/{attempt}"
        digest = hashlib.sha256(seed.encode()).digest()
        time.sleep(0.05 + digest[0] / 255 * 0.6)  # slow, and unevenly so
        if digest[1] % 3 == 0:
            event("error", message="lost track of the task")
            print("sorry, I could not finish", file=sys.stderr)
            return 1
    solve = SOLUTIONS.get(bench)
    if solve is None:
        print(f"no solution for benchmark {bench!r}", file=sys.stderr)
        return 2
    code = solve(prompt) or 0
    event("metric", name="steps", value=3)
    event("metric", name="agent_ms", value=round((time.time() - started) * 1000, 3))
    return code


if __name__ == "__main__":
    sys.exit(main())
