#!/usr/bin/env python3
"""Long flags declared in more than one place.

usage: python3 flags.py SRC_DIR [--all]

Scans every .rs file under SRC_DIR holding clap `#[arg(` attributes. For each field with
`#[arg(... long ...)]` it records the long name (`long = "x"`, or the field name in
kebab-case for a bare `long`), with the struct (or enum variant) that declares it.
A flag is "defined more than once" when the same long name is declared by two or more
distinct structs/variants (a struct flattened into many commands counts once: it is one
definition). `global = true` flags are listed as such. --all prints every flag.
"""
import os
import re
import sys
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rustlex import match_brace, strip  # noqa: E402


def balanced(code, i, open_c='(', close_c=')'):
    return match_brace(code, i, open_c, close_c)


def owners(code):
    """[(name, open, close)] for struct bodies and enum struct-variants."""
    out = []
    for m in re.finditer(r'\bstruct\s+(\w+)[^{;(]*\{', code):
        out.append((m.group(1), m.end() - 1, balanced(code, m.end() - 1, '{', '}')))
    for m in re.finditer(r'\benum\s+(\w+)[^{]*\{', code):
        e_open = m.end() - 1
        e_close = balanced(code, e_open, '{', '}')
        for v in re.finditer(r'(\w+)\s*\{', code[e_open + 1:e_close]):
            vo = e_open + 1 + v.end() - 1
            out.append((f'{m.group(1)}::{v.group(1)}', vo, balanced(code, vo, '{', '}')))
    return out


def main():
    src = sys.argv[1]
    show_all = '--all' in sys.argv
    decls = defaultdict(list)  # long -> [(file:line, owner, field, global)]
    env_of = {}
    envs = defaultdict(list)  # env var -> [(long, owner.field, file:line)]
    for dp, _, fs in os.walk(src):
        for f in sorted(fs):
            if not f.endswith('.rs'):
                continue
            path = os.path.join(dp, f)
            raw = open(path).read()
            if '#[arg(' not in raw:
                continue
            code = strip(raw, keep_strings=True)
            own = owners(code)
            for m in re.finditer(r'#\[arg\(', code):
                close = balanced(code, m.end() - 1)
                body = code[m.end():close]
                # the field this attribute belongs to
                fm = re.compile(r'\s*(?:#\[[^\]]*\]\s*)*(?:pub(?:\([^)]*\))?\s+)?(\w+)\s*:').match(code, close + 2)
                field = fm.group(1) if fm else '?'
                lm = re.search(r'(?<![\w_])long\s*=\s*"([^"]+)"', body)
                if lm:
                    long = lm.group(1)
                elif re.search(r'(?<![\w_])long(?![\w_])', body):
                    long = field.replace('_', '-')
                else:
                    continue
                glob = bool(re.search(r'global\s*=\s*true', body))
                em = re.search(r'(?<![\w_])env\s*=\s*([^,)\s]+)', body)
                env_of[(long, path, m.start())] = em.group(1) if em else None
                enc = [o for o in own if o[1] < m.start() < o[2]]
                owner = min(enc, key=lambda o: o[2] - o[1])[0] if enc else '?'
                line = code.count('\n', 0, m.start()) + 1
                if env_of[(long, path, m.start())]:
                    envs[env_of[(long, path, m.start())]].append((long, f'{owner}.{field}', line))
                decls[long].append((f'{os.path.relpath(path, os.path.dirname(src.rstrip("/")))}:{line}',
                                    owner, field, glob))
    total = sum(len(v) for v in decls.values())
    dups = {k: v for k, v in decls.items() if len({o for _, o, _, _ in v}) > 1}
    print(f'long flags: {len(decls)} distinct names, {total} declarations')
    print(f'declared in more than one struct: {len(dups)}')
    for k in sorted(dups):
        print(f'  --{k}: ' + '; '.join(f'{o}.{fld} ({loc})' for loc, o, fld, _ in dups[k]))
    denv = {k: v for k, v in envs.items() if len(v) > 1}
    print(f'same setting (same env var) declared in more than one struct: {len(denv)}')
    for k in sorted(denv):
        print(f'  {k}: ' + '; '.join(f'--{l} {o} (line {ln})' for l, o, ln in denv[k]))
    if show_all:
        for k in sorted(decls):
            print(f'  --{k}: ' + '; '.join(f'{o}.{fld} ({loc}){" global" if g else ""}'
                                          for loc, o, fld, g in decls[k]))


if __name__ == '__main__':
    main()
