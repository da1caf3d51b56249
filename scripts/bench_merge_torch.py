#!/usr/bin/env python3
"""Merges scripts/bench_reference.py's model-level PyTorch times into the table flr-bench reads (--torch).

usage: bench_merge_torch.py TABLE.json ITEMS.jsonl   (keys are flr-bench's "suite/name/shape")
"""
import json
import sys

table = json.load(open(sys.argv[1]))
items = {r["item"]: r for r in map(json.loads, open(sys.argv[2]))}
vision, encoder = items["vision"]["seconds"], items["encoder"]["seconds"]


def put(key, seconds):
    table[key] = {"median": seconds, "best": seconds}


put("model/vision+projection/base [1,3,768,768]", vision)
put("model/encoder/base [1,590,768]", encoder)
# generate() = vision + encoder + 75 decoder steps (min_new_tokens forces all 75): per-step time by difference.
for beams, item in ((1, "greedy"), (3, "beam3")):
    if item in items:
        put(f"model/decoder step, {beams} row(s)/base past 16", (items[item]["seconds"] - vision - encoder) / 75)
for r in items.values():
    print(f"torch {r['item']}: {r['seconds']:.3f} s, peak RSS {r['peak_rss_bytes'] / 2**30:.2f} GiB", file=sys.stderr)
json.dump(table, open(sys.argv[1], "w"))
