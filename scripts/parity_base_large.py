"""Base/large-shape parity of flr's model against transformers (outside CI: ~1 GB / ~3 GB of random weights).

For each of base and large: builds transformers' native Florence2ForConditionalGeneration at the exact shapes of
../shared/florence2/{base,large}/config.json, perturbs every tensor (as scripts/fixtures/model.py does) and adds a
non-zero final_logits_bias, writes an original-naming fp32 model.safetensors + the real config.json into
OUT/<size>/, and dumps the reference tensors (remote-code semantics: SPEC §3.8-3.14) for two real images, batch 2:
pixel_values, prompt ids, labels, image_features, encoder_output, logits, loss.

Then run flr's side (a test that is skipped unless FLR_PARITY_DIR is set):
    FLR_PARITY_DIR=OUT/base  swift test --scratch-path .build-model --filter FlrModelTests.BaseLargeParityTests
    FLR_PARITY_DIR=OUT/large swift test --scratch-path .build-model --filter FlrModelTests.BaseLargeParityTests
It loads the folder with Florence2.load and compares every tensor at 1e-4 relative (max|Δ| / max|ref|), loss 1e-5.

Usage: .venv/bin/python scripts/parity_base_large.py [--out /tmp/flr-parity] [base] [large]
"""

import argparse
import json
import os
import shutil
import sys

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_reference import perturb_every_tensor  # noqa: E402
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "fixtures"))
import model as tiny  # noqa: E402  (the tiny fixture generator: renaming, perturbation, image handling)

SHARED = tiny.SHARED


def native_config(original):
    """transformers-5 Florence2Config with the numbers of an original-layout config.json."""
    from transformers import Florence2Config
    v, t = original["vision_config"], original["text_config"]
    vision = dict(
        embed_dim=v["dim_embed"], num_heads=v["num_heads"], num_groups=v["num_groups"], depths=v["depths"],
        patch_size=v["patch_size"], patch_stride=v["patch_stride"], patch_padding=v["patch_padding"],
        patch_prenorm=v["patch_prenorm"], window_size=v["window_size"], drop_path_rate=v["drop_path_rate"],
        projection_dim=v["projection_dim"],
        max_temporal_embeddings=v["visual_temporal_embedding"]["max_temporal_embeddings"],
        max_position_embeddings=v["image_pos_embed"]["max_pos_embeddings"])
    keys = ["vocab_size", "d_model", "encoder_layers", "decoder_layers", "encoder_attention_heads",
            "decoder_attention_heads", "encoder_ffn_dim", "decoder_ffn_dim", "max_position_embeddings",
            "activation_function", "scale_embedding", "pad_token_id", "bos_token_id", "eos_token_id",
            "decoder_start_token_id"]
    text = dict(model_type="bart", **{k: t[k] for k in keys})
    return Florence2Config(vision_config=vision, text_config=text, image_token_id=t["vocab_size"] - 1)


def build(original, seed):
    from transformers import Florence2ForConditionalGeneration
    torch.manual_seed(seed)
    model = Florence2ForConditionalGeneration(native_config(original)).eval()
    g = torch.Generator().manual_seed(seed + 1)
    perturb_every_tensor(model, g)
    vocab = original["text_config"]["vocab_size"]
    return model, 0.5 * torch.randn((1, vocab), generator=g)


def inputs():
    from transformers import AutoTokenizer
    _, pixel_values = tiny.images_and_pixels()
    tok = AutoTokenizer.from_pretrained(SHARED)
    prompts = ["What does the image describe?", "Locate the objects with category name in the image."]
    captions = ["An astronaut in a white suit holds a helmet.", "A cat."]
    p = [tok(x).input_ids for x in prompts]
    c = [tok(x).input_ids for x in captions]
    p = [row + [1] * (max(map(len, p)) - len(row)) for row in p]  # pad id 1, unmasked as in the remote code
    labels = [row + [-100] * (max(map(len, c)) - len(row)) for row in c]  # the first </s> stays a target
    return pixel_values, torch.tensor(p), torch.tensor(labels)


def run(size, out_root, seed=0):
    original = json.load(open(os.path.join(SHARED, size, "config.json")))
    out = os.path.join(out_root, size)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    print(f"[{size}] building", flush=True)
    model, final_logits_bias = build(original, seed)
    pixel_values, input_ids, labels = inputs()
    print(f"[{size}] reference forward", flush=True)
    ref = reference(model, final_logits_bias, pixel_values, input_ids, labels)
    print(f"[{size}] writing", flush=True)
    write_weights(model, final_logits_bias, size, out)
    tensors = dict(pixel_values=pixel_values.contiguous(), input_ids=input_ids, labels=labels,
                   logits=(ref["logits_nobias"] + final_logits_bias).contiguous(),
                   image_features=ref["image_features"].contiguous(),
                   encoder_output=ref["encoder_output"].contiguous(), loss=ref["loss"])
    save_file(tensors, os.path.join(out, "reference.safetensors"))
    print(f"[{size}] done: {out} (loss {ref['loss'].item():.6f})", flush=True)


def write_weights(model, final_logits_bias, size, out):
    """OUT/model.safetensors (original names, fp32, the model's exact weights) and the real config.json."""
    sd = {}
    for k, v in model.state_dict().items():
        name = tiny.native_to_original(k)
        if name in ("language_model.model.encoder.embed_tokens.weight",
                    "language_model.model.decoder.embed_tokens.weight", "language_model.lm_head.weight"):
            continue  # tied to shared: stored once (safetensors cannot share storage)
        sd[name] = (v.t() if name == "image_projection" else v).contiguous()
    sd["language_model.final_logits_bias"] = final_logits_bias.contiguous()
    save_file(sd, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
    shutil.copy(os.path.join(SHARED, size, "config.json"), out)


@torch.no_grad()
def reference(model, final_logits_bias, pixel_values, input_ids, labels):
    from transformers.models.florence2.modeling_florence2 import shift_tokens_right
    lm = model.model.language_model
    vocab = final_logits_bias.shape[1]
    image_features = model.model.get_image_features(pixel_values).pooler_output
    encoder_out = lm.encoder(inputs_embeds=torch.cat([image_features, lm.shared(input_ids)], 1)).last_hidden_state
    decoder_out = lm.decoder(input_ids=shift_tokens_right(labels, 1, 2),
                             encoder_hidden_states=encoder_out).last_hidden_state
    logits_nobias = model.lm_head(decoder_out)
    loss = F.cross_entropy((logits_nobias + final_logits_bias).reshape(-1, vocab), labels.reshape(-1),
                           ignore_index=-100)
    return dict(image_features=image_features, encoder_output=encoder_out, logits_nobias=logits_nobias,
                loss=loss.reshape(1))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="/tmp/flr-parity")
    parser.add_argument("sizes", nargs="*", default=["base", "large"])
    args = parser.parse_args()
    torch.set_num_threads(2)
    for size in args.sizes:
        run(size, args.out)


if __name__ == "__main__":
    main()
