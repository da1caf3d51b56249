#!/usr/bin/env python3
"""ONNX Runtime side of `scripts/bench --compare`: Florence-2 base captioning speed in ONNX Runtime, fp32 and int8.

The same random weights as scripts/bench_reference.py (transformers' native Florence2ForConditionalGeneration at
the base config of ../shared/florence2/base/config.json, seed 0) exported to ONNX and split like the onnx-community
Florence-2 exports:
    vision_encoder.onnx          pixel_values [B,3,768,768] -> image_features [B,577,768] (DaViT + projection)
    embed_tokens.onnx            input_ids [B,T] -> inputs_embeds [B,T,768]
    encoder_model.onnx           inputs_embeds [B,T,768] -> last_hidden_state [B,T,768] (BART encoder, no padding)
    decoder_model.onnx           first decoder step: inputs_embeds [B,1,768] + encoder_hidden_states -> logits,
                                 the self-attention present and the cross-attention key/values (computed once)
    decoder_with_past_model.onnx inputs_embeds [B,1,768] + self-attention past [B,12,P,64] x 6 layers x k/v +
                                 cross-attention key/values [B,12,S,64] -> logits [B,1,V] and the new present
int8: onnxruntime.quantization.quantize_dynamic (QInt8, its defaults) on embeddings, encoder and both decoder graphs
(<name>_int8.onnx); the vision encoder stays fp32, as in the onnx-community int8 exports.

Usage (one measurement per process so peak RSS belongs to that measurement alone; the ITEM runs load only
onnxruntime and numpy, not torch):
    .venv/bin/python scripts/bench_onnx.py export [--dir .build/onnx-base]   (skipped when the folder is complete)
    .venv/bin/python scripts/bench_onnx.py check                             (fp32 greedy ids vs transformers)
    .venv/bin/python scripts/bench_onnx.py ITEM --precision fp32|int8 [--threads 2] [--repeats 2]
ITEM: vision | encoder | decoder_step_1 | decoder_step_3 | greedy | beam3
  vision          the vision encoder + projection on one 768x768 image
  encoder         prompt embeddings (13-token <DETAILED_CAPTION> ids) + image features + BART encoder
  decoder_step_N  one decoder step (embedding + decoder with past + LM head) at past length 16, N rows (1 or 3)
  greedy, beam3   a 75-new-token caption end to end from pixels: vision, embeddings, encoder, then a greedy or
                  beam-3 loop in numpy over ORT sessions (decoder start 2, forced BOS 0, no_repeat_ngram_size 3,
                  EOS suppressed until 75 new tokens as bench_reference.py's min_new_tokens, beams reordered by
                  index each step). Exactly 75 decoder steps, the work flr-bench's 75-token captions do.
Sessions: intra_op_num_threads=threads, inter_op_num_threads=1, ORT_ENABLE_ALL, sequential execution.
Prints one JSON line: {"item", "precision", "threads", "seconds", "peak_rss_bytes", ...}; seconds = best of
--repeats after one warm-up run.
The export also runs `check`: the fp32 ONNX greedy (and beam-3) ids of the first 10 new tokens must equal
transformers' generate(num_beams=1 (3), do_sample=False, max_new_tokens=10) with the same logits processors
(min_new_tokens=10, no_repeat_ngram_size=3, forced_bos_token_id=0, decoder_start_token_id=2), or it aborts.
"""
import argparse
import json
import os
import resource
import sys
import time

import numpy as np

from bench_common import timed

HERE = os.path.dirname(os.path.abspath(__file__))
DETAILED_CAPTION_IDS = [0, 47066, 21700, 11, 4617, 99, 16, 2343, 11, 5, 2274, 4, 2]
GRAPHS = ["vision_encoder", "embed_tokens", "encoder_model", "decoder_model", "decoder_with_past_model"]
QUANTIZED = ["embed_tokens", "encoder_model", "decoder_model", "decoder_with_past_model"]
DECODER_START, BOS, EOS = 2, 0, 2
NO_REPEAT = 3


# ----------------------------------------------------------------------------------------------------------- export

def reference():
    """scripts/bench_reference.py, with ../shared found from the main checkout when run in a git worktree."""
    sys.path.insert(0, HERE)
    import bench_reference

    if not os.path.isdir(bench_reference.SHARED):
        import subprocess

        common = subprocess.run(["git", "-C", HERE, "rev-parse", "--path-format=absolute", "--git-common-dir"],
                                capture_output=True, text=True).stdout.strip()
        if common:
            bench_reference.SHARED = os.path.join(os.path.dirname(os.path.dirname(common)), "shared", "florence2")
    return bench_reference.build_model, bench_reference.inputs


def export(out_dir: str):
    import torch
    from torch import nn

    build_model, inputs = reference()

    model = build_model("base")
    pixel_values, input_ids = inputs(model)  # torch.manual_seed(0) in build_model, then randn: reproducible
    os.makedirs(out_dir, exist_ok=True)
    np.save(os.path.join(out_dir, "pixel_values.npy"), pixel_values.numpy())
    lm = model.model.language_model
    dec = lm.decoder
    layers = len(dec.layers)

    class Vision(nn.Module):
        def __init__(self):
            super().__init__()
            self.m = model.model

        def forward(self, pixel_values):
            return self.m.get_image_features(pixel_values).pooler_output

    class Embed(nn.Module):
        def __init__(self):
            super().__init__()
            self.e = lm.shared

        def forward(self, input_ids):
            return self.e(input_ids)

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = lm.encoder

        def forward(self, inputs_embeds):
            return self.enc(inputs_embeds=inputs_embeds).last_hidden_state

    def attend(q, k, v, scaling):
        w = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) * scaling, dim=-1)
        return torch.matmul(w, v)

    def heads(x, attn):
        b, t, _ = x.shape
        return x.view(b, t, attn.num_heads, attn.head_dim).transpose(1, 2)

    def merge(x):
        b, h, t, d = x.shape
        return x.transpose(1, 2).reshape(b, t, h * d)

    class Decoder(nn.Module):
        """One BART decoder step (sequence length 1) with an explicit KV cache, the same ops as BartDecoderLayer."""

        def __init__(self, with_past: bool):
            super().__init__()
            self.dec, self.lm_head, self.with_past = dec, model.lm_head, with_past

        def forward(self, inputs_embeds, *rest):
            if self.with_past:
                past = rest[:2 * layers]
                cross = rest[2 * layers:]
                pos = past[0].shape[2]
            else:
                encoder_hidden_states = rest[0]
                pos = 0
            positions = self.dec.embed_positions.weight[pos + 2].view(1, 1, -1)
            h = self.dec.layernorm_embedding(inputs_embeds + positions)
            presents, crosses = [], []
            for i, layer in enumerate(self.dec.layers):
                sa = layer.self_attn
                q, k, v = heads(sa.q_proj(h), sa), heads(sa.k_proj(h), sa), heads(sa.v_proj(h), sa)
                if self.with_past:
                    k = torch.cat([past[2 * i], k], dim=2)
                    v = torch.cat([past[2 * i + 1], v], dim=2)
                presents += [k, v]
                h = layer.self_attn_layer_norm(h + sa.out_proj(merge(attend(q, k, v, sa.scaling))))
                ca = layer.encoder_attn
                if self.with_past:
                    ck, cv = cross[2 * i], cross[2 * i + 1]
                else:
                    ck, cv = heads(ca.k_proj(encoder_hidden_states), ca), heads(ca.v_proj(encoder_hidden_states), ca)
                    crosses += [ck, cv]
                h = layer.encoder_attn_layer_norm(h + ca.out_proj(merge(attend(heads(ca.q_proj(h), ca), ck, cv,
                                                                               ca.scaling))))
                h = layer.final_layer_norm(h + layer.fc2(layer.activation_fn(layer.fc1(h))))
            return (self.lm_head(h), *presents, *crosses)

    d = model.config.text_config.d_model
    nh = model.config.text_config.decoder_attention_heads
    kv_names = [f"{n}.{i}.{kv}" for i in range(layers) for kv in ("key", "value") for n in ["_"]]
    past_names = [s.replace("_", "past_key_values") for s in kv_names]
    present_names = [s.replace("_", "present") for s in kv_names]
    cross_names = [s.replace("_", "encoder_key_values") for s in kv_names]
    t0 = time.perf_counter()
    common = dict(opset_version=17, dynamo=False, do_constant_folding=True)
    with torch.no_grad():
        torch.onnx.export(Vision().eval(), (pixel_values,), os.path.join(out_dir, "vision_encoder.onnx"),
                          input_names=["pixel_values"], output_names=["image_features"],
                          dynamic_axes={"pixel_values": {0: "batch"}, "image_features": {0: "batch"}}, **common)
        print(f"export: vision_encoder ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
        ids = torch.tensor([DETAILED_CAPTION_IDS])
        torch.onnx.export(Embed().eval(), (ids,), os.path.join(out_dir, "embed_tokens.onnx"),
                          input_names=["input_ids"], output_names=["inputs_embeds"],
                          dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "inputs_embeds": {0: "batch", 1: "seq"}},
                          **common)
        emb = torch.randn(1, 590, d)
        torch.onnx.export(Encoder().eval(), (emb,), os.path.join(out_dir, "encoder_model.onnx"),
                          input_names=["inputs_embeds"], output_names=["last_hidden_state"],
                          dynamic_axes={"inputs_embeds": {0: "batch", 1: "seq"},
                                        "last_hidden_state": {0: "batch", 1: "seq"}}, **common)
        step = torch.randn(1, 1, d)
        torch.onnx.export(Decoder(False).eval(), (step, emb), os.path.join(out_dir, "decoder_model.onnx"),
                          input_names=["inputs_embeds", "encoder_hidden_states"],
                          output_names=["logits"] + present_names + cross_names,
                          dynamic_axes={"inputs_embeds": {0: "batch"}, "encoder_hidden_states": {0: "batch", 1: "src"},
                                        "logits": {0: "batch"},
                                        **{n: {0: "batch"} for n in present_names},
                                        **{n: {0: "batch", 2: "src"} for n in cross_names}}, **common)
        past = [torch.randn(1, nh, 4, d // nh) for _ in past_names]
        cross = [torch.randn(1, nh, 590, d // nh) for _ in cross_names]
        torch.onnx.export(Decoder(True).eval(), (step, *past, *cross),
                          os.path.join(out_dir, "decoder_with_past_model.onnx"),
                          input_names=["inputs_embeds"] + past_names + cross_names,
                          output_names=["logits"] + present_names,
                          dynamic_axes={"inputs_embeds": {0: "batch"}, "logits": {0: "batch"},
                                        **{n: {0: "batch", 2: "past"} for n in past_names},
                                        **{n: {0: "batch", 2: "src"} for n in cross_names},
                                        **{n: {0: "batch", 2: "past+1"} for n in present_names}}, **common)
    print(f"export: fp32 graphs ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)

    from onnxruntime.quantization import QuantType, quantize_dynamic

    for name in QUANTIZED:
        quantize_dynamic(os.path.join(out_dir, f"{name}.onnx"), os.path.join(out_dir, f"{name}_int8.onnx"),
                         weight_type=QuantType.QInt8)
    print(f"export: int8 graphs ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    check(out_dir, model, pixel_values, input_ids)
    with open(os.path.join(out_dir, "DONE"), "w") as f:
        f.write("ok\n")


def check(out_dir: str, model=None, pixel_values=None, input_ids=None, n: int = 10):
    """fp32 ONNX greedy / beam-3 ids of the first n new tokens == transformers' generate on the same model and inputs."""
    import torch

    if model is None:
        build_model, inputs = reference()
        model = build_model("base")
        pixel_values, input_ids = inputs(model)
    ort = Pipeline(out_dir, "fp32", threads=2)
    for beams in (1, 3):
        with torch.no_grad():
            ref = model.generate(input_ids=input_ids, pixel_values=pixel_values, num_beams=beams, do_sample=False,
                                 max_new_tokens=n, min_new_tokens=n, no_repeat_ngram_size=NO_REPEAT,
                                 forced_bos_token_id=BOS, forced_eos_token_id=None,
                                 decoder_start_token_id=DECODER_START)
        ref = [int(t) for t in ref[0].tolist()]
        ref = ref[1:] if ref and ref[0] == DECODER_START else ref  # drop the decoder start token
        ids = ort.caption(pixel_values.numpy(), beams=beams, new_tokens=n)
        what = "greedy" if beams == 1 else f"beam-{beams}"
        if ids[:n] != ref[:n]:
            sys.exit(f"check FAILED: ONNX fp32 {what} ids {ids[:n]} != transformers generate {ref[:n]}")
        print(f"check: ONNX fp32 {what} ids of the first {n} new tokens equal transformers' generate: {ids[:n]}",
              file=sys.stderr)


# ---------------------------------------------------------------------------------------------------------- running

class Pipeline:
    def __init__(self, out_dir: str, precision: str, threads: int, graphs=GRAPHS):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.s = {}
        for name in graphs:
            file = f"{name}_int8.onnx" if precision == "int8" and name in QUANTIZED else f"{name}.onnx"
            self.s[name] = ort.InferenceSession(os.path.join(out_dir, file), opts, providers=["CPUExecutionProvider"])
        if "decoder_with_past_model" in self.s:
            names = [i.name for i in self.s["decoder_with_past_model"].get_inputs()]
            self.past_names = [x for x in names if x.startswith("past_key_values")]
            self.cross_names = [x for x in names if x.startswith("encoder_key_values")]

    def embed(self, ids):
        return self.s["embed_tokens"].run(None, {"input_ids": np.asarray(ids, dtype=np.int64)})[0]

    def vision(self, pixel_values):
        return self.s["vision_encoder"].run(None, {"pixel_values": pixel_values})[0]

    def encode(self, image_features):
        prompt = self.embed([DETAILED_CAPTION_IDS])
        embeds = np.concatenate([image_features, prompt], axis=1)
        return self.s["encoder_model"].run(None, {"inputs_embeds": embeds})[0]

    def first_step(self, token, encoder_hidden_states):
        out = self.s["decoder_model"].run(None, {"inputs_embeds": self.embed([[token]]),
                                                 "encoder_hidden_states": encoder_hidden_states})
        k = len(self.past_names)
        return out[0][:, -1], out[1:1 + k], out[1 + k:]

    def step(self, tokens, past, cross):
        feeds = {"inputs_embeds": self.embed(np.asarray(tokens).reshape(-1, 1))}
        feeds.update(zip(self.past_names, past))
        feeds.update(zip(self.cross_names, cross))
        out = self.s["decoder_with_past_model"].run(None, feeds)
        return out[0][:, -1], out[1:]

    def caption(self, pixel_values, beams: int, new_tokens: int):
        enc = self.encode(self.vision(pixel_values))
        return self.decode(enc, beams, new_tokens)

    def decode(self, enc, beams: int, new_tokens: int):
        """new_tokens decoder steps: step 1 forces BOS, EOS is suppressed (min_new_tokens = new_tokens),
        no_repeat_ngram_size 3; beam search in log-probabilities, beams reordered by index each step."""
        logits, past, cross = self.first_step(DECODER_START, enc)  # step 1 (forced BOS; its logits unused)
        seqs = [[DECODER_START, BOS]]
        if beams > 1:
            past = [np.repeat(p, beams, axis=0) for p in past]
            cross = [np.repeat(c, beams, axis=0) for c in cross]
            seqs = [list(seqs[0]) for _ in range(beams)]
            scores = np.array([0.0] + [-1e9] * (beams - 1))  # identical rows: only the first one expands at first
        for _ in range(new_tokens - 1):
            logits, past = self.step([s[-1] for s in seqs], past, cross)
            logits = logits.astype(np.float64) if beams > 1 else logits
            logits[:, EOS] = -np.inf
            for r, s in enumerate(seqs):
                banned = banned_tokens(s)
                if banned:
                    logits[r, banned] = -np.inf
            if beams == 1:
                seqs[0].append(int(np.argmax(logits[0])))
                continue
            m = logits.max(axis=1, keepdims=True)
            logp = logits - m - np.log(np.exp(logits - m).sum(axis=1, keepdims=True))
            total = (logp + scores[:, None]).ravel()
            best = np.argpartition(-total, beams)[:beams]
            best = best[np.argsort(-total[best])]
            rows, toks = best // logits.shape[1], best % logits.shape[1]
            scores = total[best]
            seqs = [seqs[r] + [int(t)] for r, t in zip(rows, toks)]
            past = [p[rows] for p in past]
        return seqs[0][1:]  # new tokens (without the decoder start)


def banned_tokens(seq):
    """Tokens that would repeat an n-gram of size NO_REPEAT already in seq (HF NoRepeatNGramLogitsProcessor)."""
    if len(seq) + 1 < NO_REPEAT:
        return []
    prefix = tuple(seq[len(seq) - NO_REPEAT + 1:])
    return [seq[i + NO_REPEAT - 1] for i in range(len(seq) - NO_REPEAT + 1)
            if tuple(seq[i:i + NO_REPEAT - 1]) == prefix]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("item")
    ap.add_argument("--dir", default=os.path.join(HERE, "..", ".build", "onnx-base"))
    ap.add_argument("--precision", default="fp32", choices=["fp32", "int8"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--new-tokens", type=int, default=75)
    args = ap.parse_args()
    complete = os.path.exists(os.path.join(args.dir, "DONE"))
    if args.item == "export":
        if complete:
            print(f"export: {args.dir} already holds the graphs (delete it to export again)", file=sys.stderr)
        else:
            export(args.dir)
        return
    if not complete:
        print(f"bench_onnx: exporting to {args.dir} first (a few minutes, once) ...", file=sys.stderr)
        import subprocess

        subprocess.run([sys.executable, os.path.abspath(__file__), "export", "--dir", args.dir], check=True)
    if args.item == "check":
        check(args.dir)
        return

    pixel_values = np.load(os.path.join(args.dir, "pixel_values.npy"))
    extra = {}
    if args.item == "vision":
        p = Pipeline(args.dir, args.precision, args.threads, graphs=["vision_encoder"])
        seconds = timed(lambda: p.vision(pixel_values), args.repeats)
    elif args.item == "encoder":
        p = Pipeline(args.dir, args.precision, args.threads, graphs=["embed_tokens", "encoder_model"])
        features = np.random.default_rng(3).standard_normal((1, 577, 768), dtype=np.float32)
        seconds = timed(lambda: p.encode(features), args.repeats)
    elif args.item in ("decoder_step_1", "decoder_step_3"):
        rows = int(args.item[-1])
        p = Pipeline(args.dir, args.precision, args.threads,
                     graphs=["embed_tokens", "decoder_model", "decoder_with_past_model"])
        rng = np.random.default_rng(3)
        enc = rng.standard_normal((1, 590, 768), dtype=np.float32)
        _, past, cross = p.first_step(DECODER_START, enc)
        cross = [np.repeat(c, rows, axis=0) for c in cross]
        past = [np.repeat(x, rows, axis=0) for x in past]
        for _ in range(15):  # past length 16
            _, past = p.step([DECODER_START] * rows, past, cross)
        seconds = timed(lambda: p.step([5] * rows, past, cross), max(args.repeats, 10))
        extra["past"] = past[0].shape[2]
        extra["rows"] = rows
    elif args.item in ("greedy", "beam3"):
        p = Pipeline(args.dir, args.precision, args.threads)
        beams = 1 if args.item == "greedy" else 3
        seconds = timed(lambda: p.caption(pixel_values, beams, args.new_tokens), max(args.repeats - 1, 1))
        extra["new_tokens"] = args.new_tokens
    else:
        sys.exit(f"unknown item {args.item}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    import onnxruntime

    print(json.dumps({"item": args.item, "precision": args.precision, "threads": args.threads, "seconds": seconds,
                      "peak_rss_bytes": peak, "onnxruntime": onnxruntime.__version__, **extra}))


if __name__ == "__main__":
    main()
