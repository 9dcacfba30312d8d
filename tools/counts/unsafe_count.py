#!/usr/bin/env python3
"""`unsafe` in Rust code, comments and string contents blanked, lint names
(unsafe_code, unsafe_op_in_unsafe_fn, undocumented_unsafe_blocks) excluded by word match.

usage: python3 unsafe_count.py DIR [DIR...] [--files] [--lines]

Per DIR: lines with the keyword; `unsafe {` blocks; `unsafe fn`; `unsafe impl`;
`unsafe extern`; and the lines spanned by unsafe blocks and unsafe fn bodies (a nested block
inside an unsafe fn is not counted twice). --files gives a per-file breakdown, --lines the
lines themselves.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rustlex import match_brace, strip  # noqa: E402

KW = re.compile(r'(?<![\w])unsafe(?![\w])')


def scan(path):
    raw = open(path).read()
    code = strip(raw)
    rl = raw.split('\n')
    st = {'lines': 0, 'block': 0, 'fn': 0, 'impl': 0, 'extern': 0, 'trait': 0, 'attr': 0, 'other': 0}
    spanned = set()
    kwlines = []
    seen_lines = set()
    for m in KW.finditer(code):
        ln = code.count('\n', 0, m.start()) + 1
        if ln not in seen_lines:
            seen_lines.add(ln)
            kwlines.append((ln, rl[ln - 1].strip()))
        rest = code[m.end():m.end() + 200]
        s = rest.lstrip()
        if s.startswith('{'):
            st['block'] += 1
            o = m.end() + (len(rest) - len(s))
            c = match_brace(code, o)
            a, b = code.count('\n', 0, m.start()) + 1, code.count('\n', 0, c) + 1
            spanned.update(range(a, b + 1))
        elif re.match(r'(extern\s+"[^"]*"\s+)?fn\b', s):
            st['fn'] += 1
            # body
            j = m.end()
            depth = 0
            while j < len(code):
                ch = code[j]
                if ch in '([':
                    depth += 1
                elif ch in ')]':
                    depth -= 1
                elif depth == 0 and ch in ';{':
                    break
                j += 1
            if j < len(code) and code[j] == '{':
                c = match_brace(code, j)
                a, b = code.count('\n', 0, m.start()) + 1, code.count('\n', 0, c) + 1
                spanned.update(range(a, b + 1))
        elif s.startswith('impl'):
            st['impl'] += 1
        elif s.startswith('extern'):
            st['extern'] += 1
        elif s.startswith('trait'):
            st['trait'] += 1
        elif s.startswith('(') or code[max(0, m.start() - 2):m.start()].endswith('#['):
            st['attr'] += 1  # #[unsafe(no_mangle)] and the like
        else:
            st['other'] += 1
    st['lines'] = len(seen_lines)
    st['spanned'] = len(spanned)
    return st, kwlines


def main():
    args = sys.argv[1:]
    dirs = [a for a in args if not a.startswith('--')]
    for d in dirs:
        tot = {}
        per = []
        for dp, _, fs in os.walk(d):
            for f in sorted(fs):
                if f.endswith('.rs'):
                    p = os.path.join(dp, f)
                    st, kl = scan(p)
                    if st['lines']:
                        per.append((os.path.relpath(p, os.path.dirname(d.rstrip('/'))), st, kl))
                    for k, v in st.items():
                        tot[k] = tot.get(k, 0) + v
        print(f'== {d}: keyword lines {tot["lines"]}, unsafe blocks {tot["block"]}, unsafe fn {tot["fn"]}, '
              f'unsafe impl {tot["impl"]}, unsafe extern {tot["extern"]}, other {tot["other"] + tot["attr"] + tot["trait"]}; '
              f'lines inside unsafe blocks/fns {tot["spanned"]}; files {len(per)}')
        if '--files' in args or '--lines' in args:
            for p, st, kl in sorted(per, key=lambda x: -x[1]['lines']):
                print(f'  {p}: lines {st["lines"]} blocks {st["block"]} fn {st["fn"]} impl {st["impl"]} '
                      f'extern {st["extern"]} spanned {st["spanned"]}')
                if '--lines' in args:
                    for ln, t in kl:
                        print(f'      {ln}: {t[:110]}')


if __name__ == '__main__':
    main()
