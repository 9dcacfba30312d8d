#!/usr/bin/env python3
"""Module import circles.

usage: python3 circles.py REPO [--no-tests] [--edges] [--why]

Nodes: module files found by following `mod x;` from each crate root (src/lib.rs, or
src/main.rs when there is no lib; crates/*/src/lib.rs), honouring #[path].
Edge A->B: A's code (comments and strings blanked) names B through a `use` tree or a path
expression starting with `crate::`, `super::`, `self::`, or a name A imported with `use`
that is itself a module (alias), resolved to the deepest existing module file.
`super`/`self` are resolved relative to enclosing inline `mod x { }` blocks.
Edges from a module to the children it declares with `mod x;` are excluded
(child->parent uses are kept). --no-tests drops #[cfg(test)] modules/items.
Reports 2-cycles (pairs importing each other) and strongly connected components >1 node.
"""
import os
import re
import sys
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rustlex import strip, crates, match_brace, MOD_DECL  # noqa: E402

IDENT = r'[A-Za-z_]\w*'


def discover(root_file, no_tests):
    files, children, test_mods = {}, {}, set()

    def visit(path, fname, owner, is_test):
        files[path] = fname
        if is_test:
            test_mods.add(path)
        children.setdefault(path, set())
        raw = open(fname).read()
        code = strip(raw)
        base = os.path.dirname(fname)
        if not owner:
            base = os.path.join(base, os.path.splitext(os.path.basename(fname))[0])
        inline = inline_mods(code)
        for m in MOD_DECL.finditer(code):
            if m.group(3) != ';':
                continue
            name = m.group(2)
            enc = [nm for (nm, a, b, t) in inline if a < m.start() < b]
            enc_test = any(t for (nm, a, b, t) in inline if a < m.start() < b)
            attrs = raw[m.start():m.start() + len(m.group(1) or '')]
            pm = re.search(r'#\[path\s*=\s*"([^"]*)"\]', attrs)
            t = is_test or enc_test or 'cfg(test)' in attrs
            d = os.path.join(base, *enc)
            if pm:
                cf = os.path.join(os.path.dirname(fname), pm.group(1))
                ow = os.path.basename(cf) == 'mod.rs'
            elif os.path.exists(os.path.join(d, name + '.rs')):
                cf, ow = os.path.join(d, name + '.rs'), False
            elif os.path.exists(os.path.join(d, name, 'mod.rs')):
                cf, ow = os.path.join(d, name, 'mod.rs'), True
            else:
                continue
            cp = '::'.join([path] + enc + [name])
            children[path].add(cp)
            visit(cp, cf, ow, t)

    visit('crate', root_file, True, False)
    return files, children, test_mods


def inline_mods(code):
    """[(name, open_brace, close_brace, is_cfg_test)] for inline `mod x { }` blocks."""
    out = []
    for m in MOD_DECL.finditer(code):
        if m.group(3) != '{':
            continue
        j = match_brace(code, m.end() - 1)
        out.append((m.group(2), m.end() - 1, j, 'cfg(test)' in (m.group(1) or '')))
    return out


def blank_cfg_test_items(code):
    """Blank `#[cfg(test)]` items: a following block `{...}` item or a `...;` item."""
    for m in list(re.finditer(r'#\[cfg\(test\)\]', code)):
        j = m.end()
        # find first ';' or '{' at depth 0
        while j < len(code) and code[j] not in ';{':
            j += 1
        if j < len(code) and code[j] == '{':
            j = match_brace(code, j)
        end = min(j + 1, len(code))
        code = code[:m.start()] + re.sub(r'[^\n]', ' ', code[m.start():end]) + code[end:]
    return code


def parse_use_tree(s):
    """Expand a use tree ('a::b::{c, d::{self, e as f}, *}') into (segments, alias)."""
    toks = re.findall(r'::|[{},*]|' + IDENT, s)
    pos = 0

    def tree(prefix):
        nonlocal pos
        res = []
        segs = list(prefix)
        while pos < len(toks):
            t = toks[pos]
            if t == '{':
                pos += 1
                while pos < len(toks) and toks[pos] != '}':
                    res += tree(segs)
                    if pos < len(toks) and toks[pos] == ',':
                        pos += 1
                pos += 1
                return res
            if t == '*':
                pos += 1
                res.append((segs, None))
                return res
            if t == '::':
                pos += 1
                continue
            if t in (',', '}'):
                break
            if t == 'as':
                pos += 1
                alias = toks[pos] if pos < len(toks) else None
                pos += 1
                res.append((segs, alias))
                return res
            if t == 'self' and segs and segs == list(prefix) and prefix:
                pos += 1
                continue
            segs = segs + [t]
            pos += 1
        res.append((segs, segs[-1] if segs else None))
        return res

    out = []
    while pos < len(toks):
        out += tree([])
        if pos < len(toks) and toks[pos] == ',':
            pos += 1
        elif pos < len(toks):
            pos += 1
    return out


def main():
    args = [a for a in sys.argv[1:] if not a.startswith('--')]
    no_tests = '--no-tests' in sys.argv
    show_edges = '--edges' in sys.argv
    why = '--why' in sys.argv
    repo = args[0]
    if repo.rstrip('/').endswith('/src'):
        repo = os.path.dirname(repo.rstrip('/'))
    total_2, total_scc = 0, 0
    for label, root in crates(repo):
        files, children, test_mods = discover(root, no_tests)
        edges = defaultdict(lambda: defaultdict(list))  # a -> b -> [line]
        excluded = 0
        for mod, fname in files.items():
            if no_tests and mod in test_mods:
                continue
            code = strip(open(fname).read())
            if no_tests:
                code = blank_cfg_test_items(code)
            inline = inline_mods(code)

            def ctx_at(pos):
                return mod.split('::') + [nm for (nm, a, b, t) in inline if a < pos < b]

            def lineno(pos):
                return code.count('\n', 0, pos) + 1

            aliases = {}  # (ctx tuple) name -> module path

            def resolve(segs, ctx, local_ok=True):
                if not segs:
                    return None
                segs = list(segs)
                if segs[0] == 'crate':
                    full = ['crate'] + segs[1:]
                elif segs[0] in ('super', 'self'):
                    cur = list(ctx)
                    while segs and segs[0] in ('super', 'self'):
                        if segs[0] == 'super':
                            cur = cur[:-1]
                        segs = segs[1:]
                    full = cur + segs
                else:
                    key = (tuple(ctx), segs[0])
                    if key in aliases:
                        full = aliases[key].split('::') + segs[1:]
                    elif local_ok and '::'.join(ctx + [segs[0]]) in files:
                        full = ctx + segs
                    else:
                        return None  # extern crate, std, or a non-module item
                for k in range(len(full), 0, -1):
                    p = '::'.join(full[:k])
                    if p in files:
                        return p
                return None

            def add(target, pos):
                nonlocal excluded
                if target is None or target == mod:
                    return
                if target in children.get(mod, ()):
                    excluded += 1
                    return
                edges[mod][target].append(lineno(pos))

            use_spans = []
            for m in re.finditer(r'(?<![\w:])use\s+([^;]*);', code):
                use_spans.append((m.start(), m.end()))
                ctx = ctx_at(m.start())
                for segs, alias in parse_use_tree(m.group(1)):
                    if segs and segs[0] == 'reev':
                        segs = ['crate'] + segs[1:]
                    tgt = resolve(segs, ctx)
                    full_is_module = False
                    if tgt is not None:
                        # is the whole use path itself a module? then the alias names it
                        t2 = resolve(segs, ctx)
                        full_is_module = t2 is not None and t2.split('::')[-1] == segs[-1] \
                            and len(t2.split('::')) >= 1
                        if full_is_module and alias and alias != '_':
                            aliases[(tuple(ctx), alias)] = tgt
                    add(tgt, m.start())
            # path expressions outside use statements
            for m in re.finditer(r'(?<![\w:$])((?:' + IDENT + r')(?:\s*::\s*' + IDENT + r')+)', code):
                if any(a <= m.start() < b for a, b in use_spans):
                    continue
                segs = re.split(r'\s*::\s*', m.group(1))
                if segs[0] == 'reev':
                    segs = ['crate'] + segs[1:]
                ctx = ctx_at(m.start())
                first = segs[0]
                if first in ('crate', 'super', 'self') or (tuple(ctx), first) in aliases:
                    add(resolve(segs, ctx), m.start())
                elif '::'.join(ctx + [first]) in files:
                    add(resolve(segs, ctx), m.start())
                else:
                    # names a use inherited by an inline module via `use super::*`? keep simple:
                    # try aliases of enclosing contexts
                    for k in range(len(ctx) - 1, 0, -1):
                        if (tuple(ctx[:k]), first) in aliases:
                            add(resolve(aliases[(tuple(ctx[:k]), first)].split('::') + segs[1:], ctx), m.start())
                            break

        nodes = set(files) - (test_mods if no_tests else set())
        g = {a: set(bs) for a, bs in edges.items()}
        # Tarjan SCC
        index, low, onstack, stack, sccs = {}, {}, set(), [], []
        counter = [0]
        sys.setrecursionlimit(10000)

        def strong(v):
            index[v] = low[v] = counter[0]
            counter[0] += 1
            stack.append(v)
            onstack.add(v)
            for w in g.get(v, ()):
                if w not in index:
                    strong(w)
                    low[v] = min(low[v], low[w])
                elif w in onstack:
                    low[v] = min(low[v], index[w])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    onstack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                sccs.append(comp)

        for v in sorted(nodes):
            if v not in index:
                strong(v)
        pairs = sorted({tuple(sorted((a, b))) for a in g for b in g[a] if a in g.get(b, ())})
        big = sorted([sorted(c) for c in sccs if len(c) > 1], key=lambda c: (-len(c), c))
        nedges = sum(len(v) for v in g.values())
        print(f'== {label}: {len(nodes)} module files, {nedges} edges '
              f'({excluded} parent->declared-child references excluded)'
              f'{" [tests excluded]" if no_tests else ""}')
        print(f'2-cycles: {len(pairs)}')
        for a, b in pairs:
            extra = ''
            if why:
                extra = f'   [{files[a]}:{edges[a][b][:3]} / {files[b]}:{edges[b][a][:3]}]'
            print(f'  {a} <-> {b}{extra}')
        print(f'SCCs with >1 node: {len(big)}')
        for c in big:
            print(f'  ({len(c)}) ' + ', '.join(c))
        if show_edges:
            for a in sorted(g):
                for b in sorted(g[a]):
                    print(f'  edge {a} -> {b} lines {edges[a][b][:5]}')
        total_2 += len(pairs)
        total_scc += len(big)
    print(f'TOTAL 2-cycles={total_2} SCCs>1={total_scc}')


if __name__ == '__main__':
    main()
