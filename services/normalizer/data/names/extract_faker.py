#!/usr/bin/env python3
"""Extracts person.first_name and person.last_name of faker-js locales into faker.json (input of generate.py).

usage: (cd node_modules/@faker-js/faker/dist && python3 extract_faker.py de fr es it nl pl)
"""
import re, sys, glob
def block(src, key):
    i = src.find(key + ':{')
    if i < 0: return None
    j = i + len(key) + 1; depth = 0
    for k in range(j, len(src)):
        if src[k] == '{': depth += 1
        elif src[k] == '}':
            depth -= 1
            if depth == 0: return src[j:k+1]
    return None
first, last = {}, {}
for loc in sys.argv[1:]:
    f = glob.glob(f'{loc}-*.js')[0]
    src = open(f, encoding='utf-8').read()
    for key, out in (('first_name', first), ('last_name', last)):
        b = block(src, key)
        if b is None: print(loc, key, 'missing', file=sys.stderr); continue
        names = set()
        for s in re.findall(r'`([^`]*)`', b):
            for n in s.split('.'):
                n = n.strip()
                if n: names.add(n)
        out[loc] = names
        print(loc, key, len(names), sorted(names)[:8], file=sys.stderr)
import json
json.dump({'first': {k: sorted(v) for k, v in first.items()}, 'last': {k: sorted(v) for k, v in last.items()}}, open('faker.json', 'w'), ensure_ascii=False)
