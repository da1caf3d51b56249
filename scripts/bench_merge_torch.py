#!/usr/bin/env python3
"""Merges scripts/bench_reference.py's model-level PyTorch times into the table flr-bench reads (--torch).

usage: bench_merge_torch.py TABLE.json ITEMS.jsonl [SIZE]   (keys are flr-bench's "suite/name/shape"; SIZE base
(suite model, the default) or large (suite model-large))
"""
import json
import sys

table = json.load(open(sys.argv[1]))
items = {r["item"]: r for r in map(json.loads, open(sys.argv[2]))}
vision, encoder = items["vision"]["seconds"], items["encoder"]["seconds"]


def put(key, seconds):
    table[key] = {"median": seconds, "best": seconds}


size = sys.argv[3] if len(sys.argv) > 3 else "base"
suite, d = ("model", 768) if size == "base" else ("model-large", 1024)
put(f"{suite}/vision+projection/{size} [1,3,768,768]", vision)
put(f"{suite}/encoder/{size} [1,590,{d}]", encoder)
# generate() = vision + encoder + 75 decoder steps (min_new_tokens forces all 75): per-step time by difference.
for beams, item in ((1, "greedy"), (3, "beam3")):
    if item in items:
        put(f"{suite}/decoder step, {beams} row(s)/{size} past 16", (items[item]["seconds"] - vision - encoder) / 75)
if "beam3" in items:
    put(f"{suite}/caption beam-3 75, end to end/{size} [1,3,768,768]", items["beam3"]["seconds"])
for r in items.values():
    print(f"torch {r['item']}: {r['seconds']:.3f} s, peak RSS {r['peak_rss_bytes'] / 2**30:.2f} GiB", file=sys.stderr)
json.dump(table, open(sys.argv[1], "w"))
