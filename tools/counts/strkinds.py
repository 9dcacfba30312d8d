#!/usr/bin/env python3
"""String-typed kinds: struct fields (and enum struct-variant fields) named status, kind,
format, outcome, check or baseline whose type is String, &str, Option<String> or
Option<&str> (any lifetime). Comments and string contents are blanked first.

usage: python3 strkinds.py SRC_DIR [--params]

--params also lists function parameters / closure / let bindings with those names and types
(not counted as fields).
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rustlex import match_brace as balanced, strip  # noqa: E402

NAMES = r'(status|kind|format|outcome|check|baseline)'
TYPE = r"(String|&\s*(?:'\w+\s+)?str|Option\s*<\s*String\s*>|Option\s*<\s*&\s*(?:'\w+\s+)?str\s*>)"
PAT = re.compile(r'(?<![\w.])' + NAMES + r'\s*:\s*' + TYPE + r'(?=\s*[,}\)=;])')


def bodies(code):
    """Spans of struct bodies and enum bodies (fields of struct-variants)."""
    out = []
    for m in re.finditer(r'\b(struct|enum|union)\s+(\w+)[^{;(]*\{', code):
        out.append((m.group(2), m.end() - 1, balanced(code, m.end() - 1), m.group(1)))
    return out


def main():
    src = sys.argv[1]
    params = '--params' in sys.argv
    fields, other = [], []
    for dp, _, fs in os.walk(src):
        for f in sorted(fs):
            if not f.endswith('.rs'):
                continue
            path = os.path.join(dp, f)
            code = strip(open(path).read())
            bs = bodies(code)
            for m in PAT.finditer(code):
                line = code.count('\n', 0, m.start()) + 1
                enc = [b for b in bs if b[1] < m.start() < b[2]]
                rel = os.path.relpath(path, os.path.dirname(src.rstrip('/')))
                t = re.sub(r'\s+', ' ', m.group(2)).replace('& ', '&')
                if enc:
                    own = min(enc, key=lambda b: b[2] - b[1])
                    # inside a struct body, but not inside a nested fn body of an impl? structs
                    # have no fn bodies, so a match here is a field.
                    fields.append(f'{rel}:{line}  {own[0]}.{m.group(1)}: {t}')
                else:
                    other.append(f'{rel}:{line}  {m.group(1)}: {t}')
    fields.sort(key=lambda s: (s.split(':')[0], int(s.split(':')[1].split()[0])))
    print(f'string-typed kind fields: {len(fields)}')
    for x in fields:
        print('  ' + x)
    print(f'(parameters/bindings with those names and types, not counted: {len(other)})')
    if params:
        for x in sorted(other):
            print('  ' + x)


if __name__ == '__main__':
    main()
