#!/usr/bin/env python3
"""make test: no two modules of a crate import each other, directly or around a circle.

    dev/module-cycles.py [-v] CRATE_SRC...     e.g. dev/module-cycles.py api/src common/src

Builds each crate's module import graph from its source: which module names items of which
(`use crate::...` and `super::...`, `crate::...` paths, and paths through a module a `use` brought
in; a module's own ancestors and descendants do not count). Exits 1 naming every cycle; `-v` prints
the graph. Test code (a file's closing `#[cfg(test)] mod tests {...}`, files named *_tests.rs) and
binaries (src/bin) are left out: tests may reach anything. cargo-modules draws the same graph from
rust-analyzer, but takes minutes to build; this reads the source as written, which is what the
rule is about.
"""
import os, re, sys

def check(root):
    mods = {}
    for dp, _, fs in os.walk(root):
        for f in fs:
            if not f.endswith('.rs') or f.endswith('_tests.rs') or dp.endswith('bin'):
                continue
            # beside a lib.rs, main.rs is a crate of its own, which reaches the library by its name
            if dp == root.rstrip('/') and f == 'main.rs' and os.path.exists(os.path.join(dp, 'lib.rs')):
                continue
            rel = os.path.relpath(os.path.join(dp, f), root)[:-3].split(os.sep)
            if rel[-1] in ('mod', 'lib', 'main'):
                rel = rel[:-1]
            src = open(os.path.join(dp, f)).read()
            src = re.sub(r'#\[cfg\(test\)\]\s*mod tests\s*\{.*', '', src, flags=re.S)
            src = re.sub(r'//.*', '', src)
            name = '::'.join(rel)
            # `super::` is the parent module, written as a crate path
            parent = '::'.join(rel[:-1])
            src = re.sub(r'\bsuper::', 'crate::' + (parent + '::' if parent else ''), src)
            mods[name] = src

    def module_of(path):
        parts = path.split('::')
        while parts and '::'.join(parts) not in mods:
            parts.pop()
        return '::'.join(parts)

    def uses(src):
        bound, paths = {}, []
        for body in re.findall(r'\buse\s+crate::([^;]+);', src, flags=re.S):
            body = re.sub(r'\s+', '', body)
            m = re.match(r'^((?:\w+::)*)\{(.*)\}$', body)
            items = [m.group(1) + i for i in m.group(2).split(',') if i] if m else [body]
            for item in items:
                item = item.split('as')[0] if '::' in item else item
                paths.append(item)
                bound[item.split('::')[-1]] = item
        paths += re.findall(r'(?<!\w)crate::((?:\w+::)*\w+)', src)
        for name, full in bound.items():
            for rest in re.findall(r'(?<![\w:])' + re.escape(name) + r'::((?:\w+::)*\w+)', src):
                paths.append(full + '::' + rest)
        return paths

    edges = {}
    for m, src in mods.items():
        edges[m] = set()
        for p in uses(src):
            t = module_of(p)
            # a module's own descendants and ancestors are not imports of it
            if t and t != m and not t.startswith(m + '::') and not m.startswith(t + '::'):
                edges[m].add(t)

    index, low, stack, on, sccs = {}, {}, [], set(), []
    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v); on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w); low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            c = []
            while True:
                w = stack.pop(); on.discard(w); c.append(w)
                if w == v:
                    break
            if len(c) > 1:
                sccs.append(sorted(c))
    for v in sorted(edges):
        if v not in index:
            visit(v)
    if '-v' in sys.argv:
        for m in sorted(edges):
            print(f'{root}: {m or "(crate root)"} -> {" ".join(sorted(edges[m]))}')
    for c in sccs:
        print(f'{root}: modules import each other around a circle: {" ".join(c)}')
    return not sccs


roots = [a for a in sys.argv[1:] if a != '-v']
if not roots:
    sys.exit(__doc__)
sys.exit(0 if all([check(r) for r in roots]) else 1)
