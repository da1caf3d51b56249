"""Base-size caption parity of flr's generation against transformers' `generate` (outside CI: ~1 GB of weights).

It checks token-identical greedy and beam captions at base size for a few real photos, outside CI. Random
weights make the captions noise, but the token ids must still be identical.

What it does:
  1. Builds transformers' native Florence2ForConditionalGeneration at the exact shapes of
     ../shared/florence2/base/config.json with parity_base_large.py's random weights (same builder, same seed) and
     writes them once, fp32, original names, into OUT/ with the real config.json and the tokenizer/processor files:
     the reference and flr run the SAME weights. The remote code's final_logits_bias (non-zero here) is put back
     into the reference as the bias of a Linear lm_head over the tied `shared` (as scripts/fixtures/generate.py).
  2. For each photo alone (batch 1): the processor's pixel_values (PIL backend), the <DETAILED_CAPTION> prompt,
     and `generate` with num_beams 1 and 3, max_new_tokens 75 and Florence-2's settings (SPEC §4.1:
     no_repeat_ngram_size 3, early_stopping, forced BOS 0 / EOS 2, decoder start 2), timed. Greedy's smallest
     top-1/top-2 gap of the processed scores is printed (a near-tie there is what float noise could flip).
     OUT/reference.json and OUT/pixel_values.safetensors hold the ids, captions and inputs.
  3. flr's side, twice:
     a. token ids: FlrGenerateTests.CaptionParityTests (skipped unless FLR_CAPTION_PARITY_DIR is set) loads OUT/,
        runs Generator.generate on the same pixel_values and prompt ids, and requires identical ids;
     b. end to end: `flr -c 'load OUT; caption PHOTO... beams=B max_tokens=75 out=...'` (flr's own image decoding
        and preprocessing) must print the reference's captions (the processor's post-processed text).

Run (from the repository root; about 5 minutes on 2 idle cores, the reference's beam-3 generate most of it):
    swift build --scratch-path .build --build-tests
    .venv/bin/python scripts/parity_captions.py [--out /tmp/flr-captions] [--scratch-path .build]
Exit status 0 when every image and beam setting matches; the table it prints says which did not.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import torch
from PIL import Image
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import parity_base_large as base_large  # noqa: E402  (random base weights, the original-naming writer)

SHARED = base_large.SHARED
PHOTOS = ["photo_astronaut_420.jpg", "photo_coffee_768x768.jpg", "photo_chelsea_lossless.webp", "photo_rocket.jpg"]
TASK, PROMPT = "<DETAILED_CAPTION>", "Describe in detail what is shown in the image."
BEAMS = [1, 3]
MAX_NEW_TOKENS = 75
SETTINGS = dict(do_sample=False, no_repeat_ngram_size=3, early_stopping=True, forced_bos_token_id=0,
                forced_eos_token_id=2, decoder_start_token_id=2, bos_token_id=0, eos_token_id=2, pad_token_id=1,
                length_penalty=1.0, num_return_sequences=1)
TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt", "preprocessor_config.json"]


def with_bias(model, final_logits_bias):
    """logits = h·sharedᵀ + final_logits_bias, as the remote code (the native class has no such tensor)."""
    d, vocab = model.config.text_config.d_model, final_logits_bias.shape[1]
    head = torch.nn.Linear(d, vocab, bias=True)
    head.weight = model.model.language_model.shared.weight
    head.bias = torch.nn.Parameter(final_logits_bias.view(-1).clone())
    model.lm_head = head
    return model


def caption_text(tokenizer, ids):
    """The processor's caption of one row (SPEC §4.3): decode, then drop every <s> and </s>."""
    return tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False) \
        .replace("<s>", "").replace("</s>", "")


def smallest_gap(scores):
    """min over steps of top1 - top2 of the processed scores (forced steps have -inf runners-up: skipped)."""
    gaps = []
    for s in scores:
        top = torch.topk(s[0], 2).values
        if torch.isfinite(top[1]):
            gaps.append((top[0] - top[1]).item())
    return min(gaps) if gaps else float("inf")


@torch.no_grad()
def reference(out):
    from transformers import AutoImageProcessor, AutoTokenizer
    original = json.load(open(os.path.join(SHARED, "base", "config.json")))
    print("[reference] building base with random weights", flush=True)
    model, final_logits_bias = base_large.build(original, seed=0)
    base_large.write_weights(model, final_logits_bias, "base", out)
    for name in TOKENIZER_FILES:
        shutil.copy(os.path.join(SHARED, name), out)
    with_bias(model, final_logits_bias)
    tokenizer = AutoTokenizer.from_pretrained(SHARED)
    processor = AutoImageProcessor.from_pretrained(SHARED, backend="pil")
    prompt = tokenizer(PROMPT).input_ids
    paths = [os.path.join(ROOT, "Tests", "Fixtures", "images", p) for p in PHOTOS]
    pixel_values = processor(images=[Image.open(p).convert("RGB") for p in paths],
                             return_tensors="pt")["pixel_values"].float()
    save_file({"pixel_values": pixel_values.contiguous()}, os.path.join(out, "pixel_values.safetensors"))
    results = []
    for i, path in enumerate(paths):
        for beams in BEAMS:
            ids = torch.tensor([prompt])
            placeholder = torch.full((1, 577), model.config.image_token_id)
            start = time.perf_counter()
            generated = model.generate(
                input_ids=torch.cat([placeholder, ids], 1), pixel_values=pixel_values[i:i + 1], num_beams=beams,
                max_new_tokens=MAX_NEW_TOKENS, output_scores=beams == 1, return_dict_in_generate=True, **SETTINGS)
            seconds = time.perf_counter() - start
            row = generated.sequences[0].tolist()
            gap = smallest_gap(generated.scores) if beams == 1 else None
            results.append(dict(image=i, file=path, beams=beams, output_ids=row, caption=caption_text(tokenizer, row),
                                torch_seconds=seconds, greedy_smallest_gap=gap))
            print(f"[reference] {PHOTOS[i]} beams {beams}: {len(row)} ids in {seconds:.1f} s"
                  + (f", smallest greedy top-2 gap {gap:.3g}" if gap is not None else ""), flush=True)
    doc = dict(source=f"transformers {__import__('transformers').__version__} generate, "
                      "parity_base_large.build(base, seed 0)",
               task=TASK, prompt_ids=prompt, max_new_tokens=MAX_NEW_TOKENS, settings=SETTINGS, results=results)
    json.dump(doc, open(os.path.join(out, "reference.json"), "w"), indent=1)
    return doc


def flr_ids(out, scratch):
    """Runs CaptionParityTests against OUT; returns {(image, beams): (ids, seconds)} from its report file."""
    report = os.path.join(out, "flr_ids.json")
    if os.path.exists(report):
        os.remove(report)
    env = dict(os.environ, FLR_CAPTION_PARITY_DIR=out)
    cmd = ["swift", "test", "--scratch-path", scratch, "--skip-build", "--disable-swift-testing",
           "--filter", "FlrGenerateTests.CaptionParityTests"]
    print("[flr] " + " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=ROOT, env=env)
    if not os.path.exists(report):
        return {}
    return {(r["image"], r["beams"]): (r["output_ids"], r["seconds"]) for r in json.load(open(report))}


def flr_captions(out, scratch, doc):
    """`flr -c 'load OUT; caption ...'` per beam setting -> {(image, beams): (caption, seconds for all images)}."""
    flr = os.path.join(ROOT, scratch, "debug", "flr")
    files = [r["file"] for r in doc["results"] if r["beams"] == BEAMS[0]]
    got = {}
    for beams in BEAMS:
        jsonl = os.path.join(out, f"flr_captions_beams{beams}.jsonl")
        if os.path.exists(jsonl):
            os.remove(jsonl)
        line = f"load {out}; caption {' '.join(files)} task={TASK} beams={beams} max_tokens={MAX_NEW_TOKENS} " \
               f"out={jsonl}"
        print(f"[flr] flr -c '{line}'", flush=True)
        start = time.perf_counter()
        subprocess.run([flr, "-c", line], cwd=ROOT, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
        if os.path.exists(jsonl):
            for entry in map(json.loads, open(jsonl)):
                names = [os.path.basename(f) for f in files]
                if os.path.basename(entry["file"]) in names:
                    got[(names.index(os.path.basename(entry["file"])), beams)] = (entry["caption"], seconds)
    return got


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="/tmp/flr-captions")
    parser.add_argument("--scratch-path", default=".build", help="where `swift build --build-tests` put flr")
    parser.add_argument("--reuse", action="store_true", help="keep OUT's reference and rerun only flr's side")
    args = parser.parse_args()
    torch.set_num_threads(2)
    out = os.path.abspath(args.out)
    if args.reuse and os.path.exists(os.path.join(out, "reference.json")):
        doc = json.load(open(os.path.join(out, "reference.json")))
    else:
        shutil.rmtree(out, ignore_errors=True)
        os.makedirs(out)
        doc = reference(out)
    ids = flr_ids(out, args.scratch_path)
    captions = flr_captions(out, args.scratch_path, doc)
    failures = 0
    print(f"\n{'image':32} beams  ids    caption  torch s  flr s (ids)")
    for r in doc["results"]:
        key = (r["image"], r["beams"])
        got_ids, flr_seconds = ids.get(key, (None, float("nan")))
        ids_ok = got_ids == r["output_ids"]
        caption_ok = key in captions and captions[key][0] == r["caption"]
        failures += (not ids_ok) + (not caption_ok)
        print(f"{os.path.basename(r['file']):32} {r['beams']:5}  {'same' if ids_ok else 'DIFF':5}  "
              f"{'same' if caption_ok else 'DIFF':7}  {r['torch_seconds']:7.1f}  {flr_seconds:5.1f}")
        if not ids_ok:
            print(f"  torch {r['output_ids']}\n  flr   {got_ids}")
        if not caption_ok:
            print(f"  torch {r['caption']!r}\n  flr   {captions.get(key, (None,))[0]!r}")
    print("PASS" if failures == 0 else f"FAIL: {failures} mismatches")
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
