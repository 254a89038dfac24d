#!/usr/bin/env python3
"""Regenerates Tests/Fixtures/llava-hf/<model>.bf16.safetensors: HF transformers' image features with the model in
bfloat16 (how PyTorch runs a bf16 checkpoint), for the one-image prompt of each tiny fixture model.

Run by hand in a venv outside the repo, after Tools/make_llava_fixtures.py:
    ~/venv-ref/bin/python Tools/make_bf16_fixtures.py

The Swift test holds our bf16 vision path (`--vision-precision bf16`) to the same distance from the float32
features as PyTorch's bf16 run keeps.
"""
import os

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from transformers import LlavaForConditionalGeneration

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "llava-hf")
MODELS = ["tiny-gqa-crop", "tiny-mha-pad-full", "tiny-bf16-sharded"]


def main():
    for name in MODELS:
        model = LlavaForConditionalGeneration.from_pretrained(os.path.join(ROOT, name), dtype=torch.bfloat16).eval()
        with safe_open(os.path.join(ROOT, name + ".safetensors"), "pt") as f:
            pixels = f.get_tensor("one-image.pixel_values")
            reference = f.get_tensor("one-image.image_features")
        cfg = model.config
        with torch.no_grad():
            feats = model.model.get_image_features(pixel_values=pixels.to(torch.bfloat16),
                                                   vision_feature_layer=cfg.vision_feature_layer,
                                                   vision_feature_select_strategy=cfg.vision_feature_select_strategy)
        if hasattr(feats, "pooler_output"):
            feats = feats.pooler_output
        if isinstance(feats, (list, tuple)):
            feats = torch.cat(list(feats), dim=0)
        feats = feats.reshape(-1, feats.shape[-1]).float()
        err = ((feats - reference).abs().max() / reference.abs().max()).item()
        save_file({"one-image.image_features": feats.contiguous()}, os.path.join(ROOT, name + ".bf16.safetensors"),
                  metadata={"relative_error_vs_f32": repr(err)})
        print(name, "PyTorch bf16 vs f32: max |diff| / max |f32| =", err)


if __name__ == "__main__":
    main()
