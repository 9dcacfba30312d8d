#!/usr/bin/env python3
"""Functions longer than N lines (default 80).

usage: python3 longfns.py DIR [DIR...] [--max 80] [--comments]

Length = line of the closing brace - line of the `fn` keyword + 1. Braces are matched on
code with comments and string/char literal contents blanked (raw strings, byte strings,
lifetimes handled). Nested fns are measured on their own too (the outer one includes them).
Names are Type::fn inside an `impl`/`trait` block. For each long function, the comment
block directly above it (doc comments, // comments, attributes skipped) is checked for a
reason about its length (words: long, length, lines, split, one place, together, sequence,
order, step); --comments prints that comment block so the judgement can be checked by eye.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rustlex import match_brace, strip  # noqa: E402

WHY = re.compile(r'\b(long|length|lines|split|one place|together|in order|sequence|step by step|'
                 r'reads? (top to bottom|in one)|kept (whole|in one)|one function)\b', re.I)


def body_open(code, i):
    """From just after `fn name`, the position of the body's `{`, or None for `;`."""
    depth = 0
    for j in range(i, len(code)):
        c = code[j]
        if c in '([':
            depth += 1
        elif c in ')]':
            depth -= 1
        elif depth == 0 and c == ';':
            return None
        elif depth == 0 and c == '{':
            return j
    return None


def scan(path, limit):
    raw = open(path).read()
    code = strip(raw)
    lines_raw = raw.split('\n')
    impls = []
    for m in re.finditer(r'(?<![\w])(impl|trait)\b([^{;]*)\{', code):
        head = re.sub(r'\s+', ' ', m.group(2)).strip()
        if m.group(1) == 'impl':
            head = re.sub(r'^<[^>]*>\s*', '', head)
            head = head.split(' for ')[-1] if ' for ' in head else head
        head = re.sub(r'\s*where\b.*', '', head)
        name = re.sub(r'<.*', '', head).strip().split('::')[-1]
        impls.append((name, m.end() - 1, match_brace(code, m.end() - 1)))
    out = []
    for m in re.finditer(r'(?<![\w])fn\s+([A-Za-z_]\w*)', code):
        o = body_open(code, m.end())
        if o is None:
            continue
        c = match_brace(code, o)
        l0 = code.count('\n', 0, m.start()) + 1
        l1 = code.count('\n', 0, c) + 1
        n = l1 - l0 + 1
        if n <= limit:
            continue
        enc = [x for x in impls if x[1] < m.start() < x[2]]
        name = m.group(1)
        if enc:
            name = min(enc, key=lambda x: x[2] - x[1])[0] + '::' + name
        # comment block above the fn (skip attributes and the signature's own line start)
        k = l0 - 2
        # the fn line may be preceded by `pub(crate)`, etc. on the same line; go upward
        comment = []
        while k >= 0:
            s = lines_raw[k].strip()
            if s.startswith('#[') or s.startswith('#!['):
                k -= 1
                continue
            if s.startswith('//'):
                comment.insert(0, s)
                k -= 1
                continue
            break
        text = ' '.join(comment)
        why = bool(WHY.search(text))
        out.append((n, name, l0, why, text))
    return out


def main():
    args = sys.argv[1:]
    limit = 80
    if '--max' in args:
        limit = int(args[args.index('--max') + 1])
        del args[args.index('--max'):args.index('--max') + 2]
    show = '--comments' in args
    dirs = [a for a in args if not a.startswith('--')]
    rows = []
    for d in dirs:
        base = os.path.dirname(d.rstrip('/'))
        for dp, _, fs in os.walk(d):
            for f in sorted(fs):
                if f.endswith('.rs'):
                    p = os.path.join(dp, f)
                    for n, name, l0, why, text in scan(p, limit):
                        rows.append((n, os.path.relpath(p, base), name, l0, why, text))
    rows.sort(key=lambda r: (-r[0], r[1]))
    print(f'functions over {limit} lines: {len(rows)} '
          f'({sum(1 for r in rows if r[4])} with a comment above that mentions a reason by keyword)')
    for n, p, name, l0, why, text in rows:
        print(f'  {p}:{l0}  {name}  {n}{"  [comment gives a reason?]" if why else ""}')
        if show and text:
            print(f'      {text[:400]}')


if __name__ == '__main__':
    main()
