"""Shared helpers: blank out Rust comments and string/char literal contents (keeping
newlines and the quote characters, so line numbers and column positions survive),
and discover a crate's module files by following `mod x;` from the crate root."""
import os
import re


def strip(src, keep_strings=False):
    """Return src with comments replaced by spaces, and (unless keep_strings) the
    contents of string/char literals replaced by spaces. Newlines are kept."""
    out = []
    i, n = 0, len(src)

    def blank(s):
        return ''.join('\n' if c == '\n' else ' ' for c in s)

    while i < n:
        c = src[i]
        # line comment
        if src.startswith('//', i):
            j = src.find('\n', i)
            j = n if j < 0 else j
            out.append(blank(src[i:j]))
            i = j
            continue
        # block comment (nested)
        if src.startswith('/*', i):
            depth, j = 1, i + 2
            while j < n and depth:
                if src.startswith('/*', j):
                    depth += 1; j += 2
                elif src.startswith('*/', j):
                    depth -= 1; j += 2
                else:
                    j += 1
            out.append(blank(src[i:j]))
            i = j
            continue
        # raw strings r"..", r#".."#, br#".."#
        m = re.compile(r'(b|c)?r(#*)"').match(src, i)
        if m and (i == 0 or not (src[i - 1].isalnum() or src[i - 1] == '_')):
            hashes = m.group(2)
            end = '"' + hashes
            j = src.find(end, m.end())
            j = n if j < 0 else j + len(end)
            body = src[m.end():j - len(end)]
            out.append(src[i:m.end()] + (body if keep_strings else blank(body)) + end)
            i = j
            continue
        # normal strings "..", b"..", c".."
        if c == '"' or (c in 'bc' and src.startswith('"', i + 1)
                        and (i == 0 or not (src[i - 1].isalnum() or src[i - 1] == '_'))):
            start = i + (1 if c != '"' else 0)
            j = start + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == '\\' else 1
            body = src[start + 1:j]
            out.append(src[i:start + 1] + (body if keep_strings else blank(body)) + '"')
            i = j + 1
            continue
        # char literals vs lifetimes: 'x', '\n', '\u{..}', b'x'
        if c == "'" or (c == 'b' and src.startswith("'", i + 1)
                        and (i == 0 or not (src[i - 1].isalnum() or src[i - 1] == '_'))):
            start = i + (1 if c == 'b' else 0)
            m = re.compile(r"'(\\(u\{[0-9a-fA-F]+\}|x[0-9a-fA-F]{2}|.)|[^\\'\n])'").match(src, start)
            if m:
                body = src[start + 1:m.end() - 1]
                out.append(src[i:start + 1] + (body if keep_strings else blank(body)) + "'")
                i = m.end()
                continue
        out.append(c)
        i += 1
    return ''.join(out)


MOD_DECL = re.compile(r'((?:#\[[^\]]*\]\s*)*)(?:pub(?:\([^)]*\))?\s+)?mod\s+([A-Za-z_]\w*)\s*([;{])')


def discover(root_file, crate='crate'):
    """Follow `mod x;` from the crate root. Returns {module_path: file}, and
    {module_path: set(child module paths declared with `mod x;`)}. Inline
    `mod x { ... }` blocks are not files; their nested `mod y;` resolve under x/."""
    files, children = {}, {}

    def visit(path, fname, is_dir_owner):
        files[path] = fname
        children.setdefault(path, set())
        code = strip(open(fname).read())
        base = os.path.dirname(fname)
        if not is_dir_owner:
            base = os.path.join(base, os.path.splitext(os.path.basename(fname))[0])
        # inline module nesting: compute brace depth positions of inline mods
        inline = []  # (name, open_brace_pos, close_pos)
        for m in MOD_DECL.finditer(code):
            if m.group(3) == '{':
                depth, j = 0, m.end() - 1
                while j < len(code):
                    if code[j] == '{': depth += 1
                    elif code[j] == '}':
                        depth -= 1
                        if depth == 0: break
                    j += 1
                inline.append((m.group(2), m.end() - 1, j))
        for m in MOD_DECL.finditer(code):
            if m.group(3) != ';':
                continue
            name = m.group(2)
            enclosing = [nm for (nm, a, b) in inline if a < m.start() < b]
            attrs = m.group(1) or ''
            pm = re.search(r'#\[path\s*=\s*"([^"]*)"\]', open(fname).read()[m.start():m.end()])
            d = os.path.join(base, *enclosing)
            if pm:
                # #[path] is relative to the directory of the declaring file (for mod.rs/root)
                # or to the file's own directory for non-mod-rs files when not nested.
                child_file = os.path.join(os.path.dirname(fname), pm.group(1))
                owner = os.path.basename(child_file) == 'mod.rs'
            elif os.path.exists(os.path.join(d, name + '.rs')):
                child_file, owner = os.path.join(d, name + '.rs'), False
            elif os.path.exists(os.path.join(d, name, 'mod.rs')):
                child_file, owner = os.path.join(d, name, 'mod.rs'), True
            else:
                continue
            cpath = '::'.join([path] + enclosing + [name])
            children[path].add(cpath)
            visit(cpath, child_file, owner)

    visit(crate, root_file, True)
    return files, children


def crates(repo):
    """The library/binary crate roots in a repo checkout: (label, root file, src dir)."""
    out = []
    src = os.path.join(repo, 'src')
    if os.path.exists(os.path.join(src, 'lib.rs')):
        out.append(('reev(lib)', os.path.join(src, 'lib.rs')))
    elif os.path.exists(os.path.join(src, 'main.rs')):
        out.append(('reev(bin)', os.path.join(src, 'main.rs')))
    cdir = os.path.join(repo, 'crates')
    if os.path.isdir(cdir):
        for c in sorted(os.listdir(cdir)):
            lib = os.path.join(cdir, c, 'src', 'lib.rs')
            if os.path.exists(lib):
                out.append((c, lib))
    return out


def match_brace(code, i, open_c='{', close_c='}'):
    """The index of the bracket that closes the one at `i` (len(code) - 1 when none does)."""
    depth = 0
    for j in range(i, len(code)):
        if code[j] == open_c:
            depth += 1
        elif code[j] == close_c:
            depth -= 1
            if depth == 0:
                return j
    return len(code) - 1
