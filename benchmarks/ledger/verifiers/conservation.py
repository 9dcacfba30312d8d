#!/usr/bin/env python3
"""Verifier for ledger.transfer: a transfer moves money between accounts, it never creates,
destroys or renames any. Standard library only.

reev runs it after the agent, in the session's scratch directory (see the README's
"Verifier programs"). Exit 0 with score 1: all good; otherwise it prints its partial score
(one point each for the total and the set of accounts) and exits 1.
"""
import json
import sys

TOTAL = 150
ACCOUNTS = {"alice", "bob", "carol"}


def main():
    try:
        with open("ledger.json", encoding="utf-8") as f:
            accounts = json.load(f)["accounts"]
        total = sum(accounts.values())
        names = set(accounts)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        # The agent left no readable ledger: a failure of the agent, not of this verifier.
        print(json.dumps({"score": 0, "message": f"ledger.json is unusable: {e!r}"}))
        return 1
    problems = []
    if total != TOTAL:
        problems.append(f"the balances add up to {total}, not {TOTAL}")
    if names != ACCOUNTS:
        problems.append(f"the accounts are {sorted(names)}, not {sorted(ACCOUNTS)}")
    score = (2 - len(problems)) / 2
    message = "; ".join(problems) or f"all {TOTAL} conserved across the same accounts"
    print(json.dumps({"score": score, "message": message}))
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
