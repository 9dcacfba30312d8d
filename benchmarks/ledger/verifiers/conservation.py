#!/usr/bin/env python3
"""Verifier for ledger.transfer: a transfer moves money between accounts, it never creates,
destroys or renames any. Standard library only.

reev runs it after the agent, in the session's scratch directory (see the README's
"Verifier programs"). Exit 0 with score 1: all good; otherwise it prints its partial score
(one point each for the total and the set of accounts) and exits 1.
"""
import json
import os
import stat
import sys

TOTAL = 150
ACCOUNTS = {"alice", "bob", "carol"}
# A ledger of three accounts is tiny: anything larger is not one (and is not read whole).
MAX_BYTES = 1024 * 1024


def read_ledger():
    """The agent's ledger.json, read as reev's own checks read files: a regular file in the
    scratch directory, not a symlink (it could lead anywhere) and not a FIFO (it would block
    this verifier until its timeout, an `error` instead of a judgement), of bounded size."""
    fd = os.open("ledger.json", os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise ValueError("not a regular file")
        data = f.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise ValueError(f"larger than {MAX_BYTES} bytes")
    return json.loads(data)


def main():
    try:
        accounts = read_ledger()["accounts"]
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
