#!/usr/bin/env python3
"""Checks by hand that what `llava train` writes loads in HF transformers and PEFT (run in a venv outside the repo).

    ~/venv-ref/bin/pip install torch transformers peft safetensors
    llava train --stage 1 ... --output S1 && llava train --stage 2 --model S1 --lora-rank 8 ... --output S2
    ~/venv-ref/bin/python Tools/check_training_export.py S1 S2

Loads S2 (LoRA merged into the weights) with LlavaForConditionalGeneration, and S1 with S2/adapter applied through
PEFT plus the trained projector from non_lora_trainables.safetensors, and prints the largest logit difference
between the two on a prompt with an image (float32 rounding only when both load what we meant).
"""
import json
import sys

import torch
from peft import PeftModel
from safetensors.torch import load_file
from transformers import LlavaForConditionalGeneration


def main():
    base_dir, out_dir = sys.argv[1], sys.argv[2]
    merged = LlavaForConditionalGeneration.from_pretrained(out_dir, dtype=torch.float32).eval()
    base = LlavaForConditionalGeneration.from_pretrained(base_dir, dtype=torch.float32).eval()
    plain = LlavaForConditionalGeneration.from_pretrained(base_dir, dtype=torch.float32).eval()   # PEFT changes `base`
    peft = PeftModel.from_pretrained(base, out_dir + "/adapter").eval()
    projector = load_file(out_dir + "/adapter/non_lora_trainables.safetensors")
    peft.base_model.model.model.multi_modal_projector.load_state_dict(
        {k.replace("multi_modal_projector.", ""): v for k, v in projector.items()})
    cfg = json.load(open(out_dir + "/config.json"))
    v = cfg["vision_config"]
    n = (v["image_size"] // v["patch_size"]) ** 2
    ids = torch.tensor([[1] + [cfg["image_token_index"]] * n + [5, 6, 7, 8]])
    pixels = torch.randn(1, 3, v["image_size"], v["image_size"], generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a = merged(input_ids=ids, pixel_values=pixels).logits
        b = peft(input_ids=ids, pixel_values=pixels).logits
        c = plain(input_ids=ids, pixel_values=pixels).logits
    print(f"merged folder vs base+PEFT adapter: max |diff| {(a - b).abs().max().item():.3g} "
          f"(logits up to {a.abs().max().item():.3g}; base without adapter differs by {(a - c).abs().max().item():.3g})")


if __name__ == "__main__":
    main()
