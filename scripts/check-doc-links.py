#!/usr/bin/env python3
"""Every relative link in README.md and docs/*.md resolves to a file in the
repository (and, with #anchor, to a heading of that file); no absolute URLs."""
import glob, os, re, sys
root = os.getcwd()
def slug(h):
    h = h.strip().lower()
    h = re.sub(r'[^\w\- ]', '', h)
    return h.replace(' ', '-')
def anchors(path):
    out=set(); fence=False
    for line in open(path, encoding='utf-8'):
        if line.startswith('```'): fence = not fence
        if not fence and line.startswith('#'):
            out.add(slug(line.lstrip('#')))
    return out
bad=0; n=0
for md in ['README.md'] + sorted(glob.glob('docs/*.md')):
    text=open(md, encoding='utf-8').read()
    text=re.sub(r'```.*?```', '', text, flags=re.S)
    for target in re.findall(r'\]\(([^)\s]+)\)', text):
        n+=1
        if re.match(r'[a-z]+:', target):
            print(f'{md}: external link {target}'); bad+=1; continue
        path, _, frag = target.partition('#')
        full = os.path.normpath(os.path.join(os.path.dirname(md), path)) if path else md
        if not os.path.abspath(full).startswith(root + os.sep) or not os.path.isfile(full):
            print(f'{md}: {target} -> {full} missing or outside the repo'); bad+=1; continue
        if frag and full.endswith('.md') and frag not in anchors(full):
            print(f'{md}: {target}: no heading #{frag} in {full}'); bad+=1
print(f'{n} links checked, {bad} bad')
sys.exit(1 if bad else 0)
