#!/usr/bin/env python3
"""Non-test functions longer than N lines (default 80), by brace matching: issue 13's bar. Usage: tools/long-functions.py [DIR] [N]"""
import os, re, sys
limit = int(sys.argv[2]) if len(sys.argv) > 2 else 80
root = sys.argv[1] if len(sys.argv) > 1 else '.'
fn_re = re.compile(r'^\s*(pub(\([^)]*\))?\s+)?(async\s+)?(const\s+)?fn\s+(\w+)')
out = []
for d, _, files in os.walk(root):
    if '/target' in d or '/.git' in d or '/tests' in d.replace(root, '') or '/benches' in d or '/examples' in d:
        continue
    for f in files:
        if not f.endswith('.rs'):
            continue
        p = os.path.join(d, f)
        lines = open(p).read().split('\n')
        # cut test module
        for i, l in enumerate(lines):
            if l.startswith('#[cfg(test)]'):
                lines = lines[:i]
                break
        i = 0
        while i < len(lines):
            m = fn_re.match(lines[i])
            if m:
                depth = 0; started = False; j = i
                while j < len(lines):
                    s = re.sub(r'"(\\.|[^"\\])*"', '""', lines[j])
                    s = re.sub(r"'(\\.|[^'\\])'", "''", s)
                    s = s.split('//')[0]
                    depth += s.count('{') - s.count('}')
                    if '{' in s: started = True
                    if started and depth <= 0: break
                    if not started and s.rstrip().endswith(';'): break
                    j += 1
                n = j - i + 1
                if n > limit:
                    out.append((n, p, i + 1, m.group(5)))
                i += 1
            else:
                i += 1
for n, p, l, name in sorted(out, reverse=True):
    print(f"{n:4d} {p}:{l} {name}")
