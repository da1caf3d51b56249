#!/usr/bin/env python3
"""PyTorch side of `scripts/bench --compare`: times the reference on the same shapes flr's benchmark uses.

One measurement per process so peak RSS belongs to that measurement alone:
    .venv/bin/python scripts/bench_reference.py ITEM [--size base|large] [--threads 2]
ITEM: vision | encoder | greedy | beam3 | lora_step | lora_step_ckpt
Prints one JSON line: {"item", "size", "threads", "seconds", "peak_rss_bytes", ...}.
Random weights at the exact configs of ../shared/florence2/{base,large}/config.json (transformers' native
Florence2ForConditionalGeneration, fp32), one 768x768 image, a 13-token prompt (<DETAILED_CAPTION>).
"""
import argparse
import json
import os
import resource
import sys

import torch

from bench_common import timed

HERE = os.path.dirname(os.path.abspath(__file__))
# FLR_SHARED_FLORENCE2: the folder of the base/ and large/ configs when the checkout is not beside ../shared.
SHARED = os.environ.get("FLR_SHARED_FLORENCE2") or os.path.join(HERE, "..", "..", "shared", "florence2")
DETAILED_CAPTION_IDS = [0, 47066, 21700, 11, 4617, 99, 16, 2343, 11, 5, 2274, 4, 2]


def build_model(size: str):
    from transformers import BartConfig, Florence2Config, Florence2ForConditionalGeneration
    from transformers.models.florence2.configuration_florence2 import Florence2VisionConfig

    raw = json.load(open(os.path.join(SHARED, size, "config.json")))
    v, t = raw["vision_config"], raw["text_config"]
    vision = Florence2VisionConfig(
        embed_dim=v["dim_embed"], num_heads=v["num_heads"], num_groups=v["num_groups"], depths=v["depths"],
        window_size=v["window_size"], projection_dim=raw["projection_dim"], drop_path_rate=0.0)
    # 51328 rows as transformers' converted Florence-2 checkpoints (51289 + <image>, padded to 64).
    text = BartConfig(
        vocab_size=51328, d_model=t["d_model"], encoder_layers=t["encoder_layers"], decoder_layers=t["decoder_layers"],
        encoder_attention_heads=t["encoder_attention_heads"], decoder_attention_heads=t["decoder_attention_heads"],
        encoder_ffn_dim=t["encoder_ffn_dim"], decoder_ffn_dim=t["decoder_ffn_dim"],
        max_position_embeddings=t["max_position_embeddings"], dropout=0.0, attention_dropout=0.0,
        activation_dropout=0.0, scale_embedding=False)
    config = Florence2Config(vision_config=vision, text_config=text)
    torch.manual_seed(0)
    return Florence2ForConditionalGeneration(config).eval()


def perturb_every_tensor(model, g):
    """Every parameter moved off its fresh init (LayerNorm weights off 1, biases off 0), so parity checks see
    each tensor's effect."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            if p.ndim == 1 and "norm" in name:
                p.copy_((1.0 if name.endswith("weight") else 0.0) + 0.2 * noise)
            elif name.endswith("bias"):
                p.copy_(0.1 * noise)
            else:
                p.add_(0.02 * noise)


def inputs(model):
    pixel_values = torch.randn(1, 3, 768, 768)
    image_token = model.config.image_token_id
    input_ids = torch.tensor([[image_token] * 577 + DETAILED_CAPTION_IDS])
    return pixel_values, input_ids


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("item")
    ap.add_argument("--size", default="base")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--new-tokens", type=int, default=75)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = build_model(args.size)
    pixel_values, input_ids = inputs(model)
    extra = {}

    with torch.no_grad():
        if args.item == "vision":
            seconds = timed(lambda: model.model.get_image_features(pixel_values), args.repeats)
        elif args.item == "encoder":
            embeds = torch.randn(1, 577 + len(DETAILED_CAPTION_IDS), model.config.text_config.d_model)
            enc = model.model.language_model.encoder
            seconds = timed(lambda: enc(inputs_embeds=embeds), args.repeats)
        elif args.item in ("greedy", "beam3"):
            beams = 1 if args.item == "greedy" else 3
            n = args.new_tokens

            def run():
                return model.generate(
                    input_ids=input_ids, pixel_values=pixel_values, max_new_tokens=n, min_new_tokens=n,
                    num_beams=beams, do_sample=False, no_repeat_ngram_size=3, early_stopping=True,
                    forced_bos_token_id=0, forced_eos_token_id=2, decoder_start_token_id=2)

            seconds = timed(run, 1)
            extra["new_tokens"] = n

    if args.item in ("lora_step", "lora_step_ckpt"):
        from peft import LoraConfig, get_peft_model

        targets = ["qkv", "proj", "k_proj", "v_proj", "q_proj", "out_proj", "fc1", "fc2", "conv"]
        peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=4, lora_dropout=0.25, target_modules=targets))
        peft_model.train()
        if args.item == "lora_step_ckpt":
            peft_model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        labels = torch.randint(3, 50000, (1, 64))
        labels[0, 0], labels[0, -1] = 0, 2

        def step():
            out = peft_model(input_ids=input_ids, pixel_values=pixel_values, labels=labels)
            out.loss.backward()

        seconds = timed(step, 1)

    if args.item not in ("vision", "encoder", "greedy", "beam3", "lora_step", "lora_step_ckpt"):
        sys.exit(f"unknown item {args.item}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"item": args.item, "size": args.size, "threads": args.threads, "seconds": seconds,
                      "peak_rss_bytes": peak, "torch": torch.__version__, **extra}))


if __name__ == "__main__":
    main()
