#!/usr/bin/env python3
"""Quality of flr's reduced precisions (`load ... precision=bf16|int8`) against fp32, next to ONNX Runtime's
int8 dynamic quantization of the same weights.

    /work/venv/bin/python scripts/precision_check.py [--bench .build/release/flr-bench] [--work DIR] [--skip-ort]

1. Base-size Florence-2 (transformers' Florence2ForConditionalGeneration at ../shared/florence2/base's config)
   with random weights, EVERY tensor perturbed (LayerNorm weights 1 + 0.2·N, biases 0.1·N, the rest
   init + 0.02·N), saved with save_pretrained (fp32, transformers-5 naming) for flr to load.
2. Inputs: two real photos from Tests/Fixtures (the Florence-2 processor's pixel_values), the
   <DETAILED_CAPTION> prompt, and a 75-token caption (decoder input ids) for teacher forcing.
3. flr (`flr-bench precision-dump`) at fp32, bf16 and int8: image features, teacher-forced logits (in one
   decoder forward, and position by position through the decoding step with its key/value caches, as captioning
   computes them: "step err"), greedy and beam-3 captions of up to 75 new tokens. Errors are max |x - x_fp32| / max |x_fp32| against flr's own fp32
   (which matches transformers to ~1e-5; printed as a check); token agreement = positions equal to fp32's.
4. ONNX Runtime: the same model's teacher-forced forward exported to ONNX (fp32), then
   onnxruntime.quantization.quantize_dynamic (int8 weights, MatMul/Gemm, per tensor: its defaults), and
   its logits error against the fp32 ONNX model's.
Bounds (the issue's): flr int8 logits error <= ORT int8's; flr bf16's <= a quarter of ORT int8's (flr's error
being the larger of its forward and step errors).
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np
import torch
from safetensors.torch import load_file, save_file

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# The Florence-2 reference files (configs, processor, tokenizer): beside the checkout, or FLR_SHARED.
SHARED = os.environ.get("FLR_SHARED") or next(
    (p for p in (os.path.join(os.path.dirname(ROOT), "shared", "florence2"),
                 os.path.join(os.path.dirname(os.path.dirname(ROOT)), "shared", "florence2")) if os.path.isdir(p)),
    os.path.join(os.path.dirname(ROOT), "shared", "florence2"))
DETAILED_CAPTION_IDS = [0, 47066, 21700, 11, 4617, 99, 16, 2343, 11, 5, 2274, 4, 2]
PHOTOS = ["photo_astronaut_420.jpg", "photo_camera_gray.jpg"]
CAPTION = ("The image shows an astronaut in a white space suit standing in front of an American flag, holding a "
           "helmet under one arm. Behind the astronaut there is a model of a spacecraft and a dark background. "
           "The astronaut is smiling at the camera, and the suit has patches on its shoulders and chest, with "
           "hoses and a control box on the front.")
STEPS = 75


def build_model():
    sys.path.insert(0, HERE)
    import bench_reference
    bench_reference.SHARED = SHARED
    from bench_reference import build_model as reference_model
    model = reference_model("base")
    g = torch.Generator().manual_seed(11)
    bench_reference.perturb_every_tensor(model, g)
    return model


def inputs(model):
    from PIL import Image
    from tokenizers import Tokenizer
    from transformers import AutoImageProcessor
    processor = AutoImageProcessor.from_pretrained(SHARED, backend="pil")
    images = [Image.open(os.path.join(ROOT, "Tests", "Fixtures", "images", p)).convert("RGB") for p in PHOTOS]
    pixel_values = processor(images=images, return_tensors="pt")["pixel_values"].float()
    tokenizer = Tokenizer.from_file(os.path.join(SHARED, "tokenizer.json"))
    caption = tokenizer.encode(CAPTION).ids  # <s> ... </s>
    while len(caption) < STEPS:
        caption = caption + caption[1:]
    decoder_ids = [2] + caption[: STEPS - 1]  # decoder_start + the caption, shifted right
    b = pixel_values.shape[0]
    prompt = torch.tensor([DETAILED_CAPTION_IDS] * b)
    return pixel_values, prompt, torch.tensor([decoder_ids] * b)


class TeacherForced(torch.nn.Module):
    """pixel_values, prompt ids, decoder ids -> logits, as flr's features -> encode -> decode."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, pixel_values, prompt_ids, decoder_input_ids):
        lm = self.model.model.language_model
        features = self.model.model.get_image_features(pixel_values).pooler_output
        embeds = torch.cat([features, lm.shared(prompt_ids)], dim=1)
        encoded = lm.encoder(inputs_embeds=embeds).last_hidden_state
        hidden = lm.decoder(input_ids=decoder_input_ids, encoder_hidden_states=encoded).last_hidden_state
        return self.model.lm_head(hidden), features


def rel(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.abs(a - b).max() / np.abs(b).max())


def agreement(a, b):
    """Positions where two token rows agree, over the longer row (per image, summed)."""
    same = total = 0
    for x, y in zip(a, b):
        x, y = [int(v) for v in x], [int(v) for v in y]
        n = max(len(x), len(y))
        x, y = x + [-1] * (n - len(x)), y + [-1] * (n - len(y))
        same += sum(p == q for p, q in zip(x, y))
        total += n
    return same, total


def ort_logits(model, pixel_values, prompt, decoder_ids, work):
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic
    fp32_path, int8_path = os.path.join(work, "teacher_forced.onnx"), os.path.join(work, "teacher_forced_int8.onnx")
    if not os.path.exists(fp32_path):
        torch.onnx.export(
            TeacherForced(model), (pixel_values[:1], prompt[:1], decoder_ids[:1]), fp32_path,
            input_names=["pixel_values", "prompt_ids", "decoder_input_ids"], output_names=["logits", "features"],
            dynamic_axes={"pixel_values": {0: "b"}, "prompt_ids": {0: "b"}, "decoder_input_ids": {0: "b"}},
            opset_version=17, dynamo=False)
    if not os.path.exists(int8_path):
        quantize_dynamic(fp32_path, int8_path, weight_type=QuantType.QInt8)
    feeds = {"pixel_values": pixel_values.numpy(), "prompt_ids": prompt.numpy(),
             "decoder_input_ids": decoder_ids.numpy()}
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    out = {}
    for name, path in (("fp32", fp32_path), ("int8", int8_path)):
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        out[name] = session.run(None, feeds)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bench", default=os.path.join(ROOT, ".build", "release", "flr-bench"))
    parser.add_argument("--work", default="/tmp/flr-precision-check")
    parser.add_argument("--skip-ort", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(2)
    os.makedirs(args.work, exist_ok=True)
    folder = os.path.join(args.work, "model")
    model = build_model()
    if not os.path.exists(os.path.join(folder, "model.safetensors")):
        model.save_pretrained(folder)
    pixel_values, prompt, decoder_ids = inputs(model)
    inputs_path, out_path = os.path.join(args.work, "inputs.safetensors"), os.path.join(args.work, "flr.safetensors")
    save_file({"pixel_values": pixel_values.contiguous(), "prompt_ids": prompt.float().contiguous(),
               "decoder_input_ids": decoder_ids.float().contiguous()}, inputs_path)
    env = dict(os.environ, FLR_DUMP_MODEL=folder, FLR_DUMP_INPUTS=inputs_path, FLR_DUMP_OUT=out_path)
    subprocess.run([args.bench, "precision-dump", "--threads", "2"], env=env, check=True)
    flr = {k: v.numpy() for k, v in load_file(out_path).items()}

    with torch.no_grad():
        torch_logits, torch_features = TeacherForced(model)(pixel_values, prompt, decoder_ids)
    print(f"check: flr fp32 vs transformers fp32: features {rel(flr['features_fp32'], torch_features):.2e}, "
          f"logits {rel(flr['logits_fp32'], torch_logits):.2e}")

    rows = {}
    print(f"check: flr fp32 decoding step vs one forward: logits {rel(flr['step_logits_fp32'], flr['logits_fp32']):.2e}")
    print(f"\n{'':10}{'features err':>14}{'logits err':>12}{'step err':>10}{'greedy agree':>14}{'beam-3 agree':>14}")
    for p in ("bf16", "int8"):
        fe, le = rel(flr[f"features_{p}"], flr["features_fp32"]), rel(flr[f"logits_{p}"], flr["logits_fp32"])
        se = rel(flr[f"step_logits_{p}"], flr["step_logits_fp32"])
        g, b = agreement(flr[f"greedy_{p}"], flr["greedy_fp32"]), agreement(flr[f"beam3_{p}"], flr["beam3_fp32"])
        rows[p] = max(le, se)
        print(f"flr {p:6}{fe:14.2e}{le:12.2e}{se:10.2e}{g[0]:>9}/{g[1]:<4}{b[0]:>9}/{b[1]:<4}")
    result = {"flr_bf16_logits_error": rows["bf16"], "flr_int8_logits_error": rows["int8"]}
    if not args.skip_ort:
        ort = ort_logits(model, pixel_values, prompt, decoder_ids, args.work)
        ort_error = rel(ort["int8"][0], ort["fp32"][0])
        ort_features = rel(ort["int8"][1], ort["fp32"][1])
        print(f"ORT int8  {ort_features:14.2e}{ort_error:12.2e}   (quantize_dynamic, against ORT fp32)")
        print(f"check: ORT fp32 vs transformers fp32: logits {rel(ort['fp32'][0], torch_logits):.2e}")
        result["ort_int8_logits_error"] = ort_error
        ok_int8, ok_bf16 = rows["int8"] <= ort_error, rows["bf16"] <= ort_error / 4
        print(f"\nflr int8 <= ORT int8: {'yes' if ok_int8 else 'NO'} ({rows['int8']:.2e} vs {ort_error:.2e})")
        print(f"flr bf16 <= ORT int8 / 4: {'yes' if ok_bf16 else 'NO'} ({rows['bf16']:.2e} vs {ort_error / 4:.2e})")
        result["bounds_met"] = ok_int8 and ok_bf16
    print(json.dumps(result))


if __name__ == "__main__":
    main()
