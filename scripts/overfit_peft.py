#!/usr/bin/env python3
"""The overfit test's script (Tests/ShellTests/TrainingOverfitTests.swift) run with PyTorch + PEFT, to show how
fast the reference itself overfits the demo-train model: same model (scripts/fixtures/demo.py build_train_model),
same 4 photos and captions, same prompt, LoRA (r, alpha, targets), AdamW (torch's, weight decay 0.01 as flr's
default), constant lr, batch 1, no dropout, one pass over the images per epoch in a fixed order (flr shuffles with
its seed, so the step-by-step numbers differ; the fall is what is compared). Prints the token-mean loss of the 4
items before and after, as flr's `eval` does. Random masks and shuffling differ from flr's: not a parity test.

Run: .venv/bin/python scripts/overfit_peft.py [--epochs 5] [--rank 32] [--alpha 32] [--lr 0.01]
     [--targets q_proj,k_proj,v_proj,out_proj,fc1,fc2,lm_head]    (takes ~1 min per epoch on 2 cores)
"""
import argparse
import importlib.util
import json
import os

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("demo", os.path.join(HERE, "fixtures", "demo.py"))
demo = importlib.util.module_from_spec(spec)
spec.loader.exec_module(demo)
m = demo.m
FIXTURES = os.path.join(m.ROOT, "Tests", "Fixtures")
IMAGES = ["photo_rocket.jpg", "photo_camera_gray.png", "photo_coffee_422.jpg", "photo_chelsea_lossy.webp"]
CAPTIONS = ["a photo of the man in a red car", "a photo of the man in one big house",
            "a photo of the man in the black water", "a photo of the man with white city street"]
PROMPT = "a photo of the man in the"


def pixels(path):
    """The processor's path: RGB, 768x768 bicubic, rescale 1/255, ImageNet mean/std."""
    pre = json.load(open(os.path.join(m.SHARED, "preprocessor_config.json")))
    image = Image.open(path).convert("RGB").resize((768, 768), Image.BICUBIC)
    x = np.asarray(image, dtype=np.float32) / 255.0
    x = (x - np.array(pre["image_mean"], np.float32)) / np.array(pre["image_std"], np.float32)
    return torch.from_numpy(x).permute(2, 0, 1)[None].contiguous()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--rank", type=int, default=32)
    ap.add_argument("--alpha", type=int, default=32)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--targets", default="q_proj,k_proj,v_proj,out_proj,fc1,fc2,lm_head")
    args = ap.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(1)
    from peft import LoraConfig, get_peft_model
    from tokenizers import Tokenizer
    from transformers.models.florence2.modeling_florence2 import shift_tokens_right
    model, final_logits_bias = demo.build_train_model()
    tok = Tokenizer.from_file(os.path.join(m.SHARED, "tokenizer.json"))
    prompt = torch.tensor([tok.encode(PROMPT).ids])
    labels = [torch.tensor([tok.encode(c).ids]) for c in CAPTIONS]
    pix = [pixels(os.path.join(FIXTURES, "images", f)) for f in IMAGES]
    peft_model = get_peft_model(model, LoraConfig(r=args.rank, lora_alpha=args.alpha, lora_dropout=0.0,
                                                  target_modules=args.targets.split(",")))
    peft_model.eval()  # no model dropout: flr's no_dropout
    inner = peft_model.base_model.model
    lm = inner.model.language_model

    def loss_of(i):  # model.py's reference forward (remote-code semantics, final_logits_bias included)
        feats = inner.model.get_image_features(pix[i]).pooler_output
        enc = lm.encoder(inputs_embeds=torch.cat([feats, lm.shared(prompt)], 1)).last_hidden_state
        dec = lm.decoder(input_ids=shift_tokens_right(labels[i], 1, 2), encoder_hidden_states=enc).last_hidden_state
        logits = inner.lm_head(dec) + final_logits_bias
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels[i].reshape(-1))

    params = [p for p in peft_model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    with torch.no_grad():
        before = sum(loss_of(i).item() for i in range(4)) / 4
    print(f"start loss {before:.4f}", flush=True)
    for epoch in range(args.epochs):
        for i in range(4):
            opt.zero_grad()
            loss = loss_of(i)
            loss.backward()
            opt.step()
            print(f"epoch {epoch + 1} step {epoch * 4 + i + 1} loss {loss.item():.4f}", flush=True)
    with torch.no_grad():
        after = sum(loss_of(i).item() for i in range(4)) / 4
    print(f"loss {before:.4f} -> {after:.4f} ({100 * after / before:.1f}% of the start) in {4 * args.epochs} steps")


if __name__ == "__main__":
    main()
