#!/usr/bin/env python3
"""SmolLLaVA is a llava-hf folder HF transformers loads as it is: this loads it with LlavaForConditionalGeneration
and AutoProcessor, runs one image + prompt, and compares HF's pixel values, image features and logits with what
`llava forward` wrote for the same input (and greedy tokens with `llava generate`'s). Not run by CI.

  llava forward --model DIR --image IMG --prompt "$(python3 Tools/check_smol_llava_hf.py --print-prompt Q)" \
      --output ours.safetensors
  /path/to/venv/bin/python Tools/check_smol_llava_hf.py --model DIR --image IMG --question Q --ours ours.safetensors
"""
import argparse
import sys


def prompt_for(question, processor=None):
    # The checkpoint's own chat template, with the image first in the user turn (as llava generate renders it).
    system = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
    return ("<|im_start|>system\n%s<|im_end|>\n<|im_start|>user\n<image>\n%s<|im_end|>\n<|im_start|>assistant\n"
            % (system, question))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model")
    ap.add_argument("--image")
    ap.add_argument("--question", default="How many shapes are there in the image?")
    ap.add_argument("--ours", help="safetensors from llava forward")
    ap.add_argument("--print-prompt", metavar="Q")
    ap.add_argument("--tokens", type=int, default=12)
    args = ap.parse_args()
    if args.print_prompt:
        sys.stdout.write(prompt_for(args.print_prompt))
        return
    import numpy as np
    import torch
    from PIL import Image
    from safetensors.numpy import load_file
    from transformers import AutoProcessor, LlavaForConditionalGeneration

    model = LlavaForConditionalGeneration.from_pretrained(args.model, torch_dtype=torch.float32).eval()
    processor = AutoProcessor.from_pretrained(args.model)
    text = prompt_for(args.question)
    inputs = processor(images=Image.open(args.image).convert("RGB"), text=text, return_tensors="pt")
    with torch.no_grad():
        out = model(**inputs)
        feats = model.get_image_features(pixel_values=inputs["pixel_values"])
        feats = torch.cat(list(feats), 0) if isinstance(feats, (list, tuple)) else feats
        feats = getattr(feats, "pooler_output", feats)
        if isinstance(feats, (list, tuple)):
            feats = torch.cat(list(feats), 0)
        gen = model.generate(**inputs, max_new_tokens=args.tokens, do_sample=False)
    hf_tokens = gen[0, inputs["input_ids"].shape[1]:].tolist()
    print("HF greedy:", hf_tokens, repr(processor.tokenizer.decode(hf_tokens)))
    if not args.ours:
        return
    ours = load_file(args.ours)
    ids = inputs["input_ids"][0].numpy()
    same_ids = ours["input_ids"].tolist() == ids.tolist()
    print("input ids identical:", same_ids, "(%d positions)" % len(ids))
    px = np.abs(ours["pixel_values"] - inputs["pixel_values"].numpy()).max()
    f = np.abs(ours["image_features"] - feats.reshape(ours["image_features"].shape).numpy()).max()
    logits = out.logits[0].numpy()
    d = np.abs(ours["logits"] - logits)
    print("max |pixel diff| %.3g, max |feature diff| %.3g (features up to %.3g)" % (
        px, f, np.abs(feats.numpy()).max()))
    print("max |logit diff| %.3g over %s (logits up to %.3g); argmax equal at %d/%d positions" % (
        d.max(), logits.shape, np.abs(logits).max(), (ours["logits"].argmax(-1) == logits.argmax(-1)).sum(),
        logits.shape[0]))


if __name__ == "__main__":
    main()
