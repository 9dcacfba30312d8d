"""What every bench script shares: measuring a child's wall time, CPU time and peak RSS,
and judging a figure against its target the same way everywhere.

A bench prints each figure as `<what>: wall W s, CPU C s` and every target as one line
`OK` or `MISSED` saying what it judged and on which basis (wall or CPU). This machine is
shared: neighbours skew wall time far more than CPU time, so targets that are about the
work reev does are judged on CPU time, and the line says so. `finish()` exits 1 when any
target was missed; `bench/all.sh` collects the MISSED lines of every script.
"""
import os
import subprocess
import sys
import time

_missed = []


class Measured:
    """One child process: wall seconds, CPU seconds (user + system), peak RSS in MiB."""

    def __init__(self, wall, cpu, rss_mib, stdout=None):
        self.wall, self.cpu, self.rss, self.stdout = wall, cpu, rss_mib, stdout

    def __str__(self):
        return f"wall {self.wall:7.3f} s, CPU {self.cpu:7.3f} s, peak RSS {self.rss:4.0f} MiB"


def measured(argv, stdout=subprocess.DEVNULL, env=None, cwd=None, stderr=None):
    """Run argv to the end; exit the bench when it fails (a failed command is no figure)."""
    t = time.perf_counter()
    p = subprocess.Popen(argv, stdout=stdout, env=env, cwd=cwd, stderr=stderr)
    out = p.stdout.read() if stdout == subprocess.PIPE else None
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"{' '.join(map(str, argv))} exited {code}")
    return Measured(wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024, out)


def median(runs):
    """The run of median wall time (CPU and RSS from that same run)."""
    return sorted(runs, key=lambda m: m.wall)[len(runs) // 2]


def judge(what, value, target, basis, unit="s", lower_is_better=True):
    """Print and record one target: `value` (measured on `basis`: "wall", "CPU", "ratio of
    CPU times", ...) against `target`."""
    ok = value <= target if lower_is_better else value >= target
    cmp = "<=" if lower_is_better else ">="
    line = f"{what}: {value:.3f} {unit} on {basis} (target {cmp} {target} {unit})"
    if ok:
        print(f"OK      {line}", flush=True)
    else:
        print(f"MISSED  {line}", flush=True)
        _missed.append(line)
    return ok


def loadavg():
    return open("/proc/loadavg").read().split()[0]


def finish():
    """Exit 1 when any target was missed."""
    sys.exit(1 if _missed else 0)
