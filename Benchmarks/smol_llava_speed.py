#!/usr/bin/env python3
"""Time to an answer on SmolLLaVA: image encode + prefill + 20 greedy tokens, swift-llava (`llava generate --json`,
a fresh process each run, model load not counted) against HF transformers running the same llava-hf folder
(LlavaForConditionalGeneration, float32, model loaded once, not counted). Same image, prompt, threads; runs
alternate; medians printed with the ratio. Run with a Python that has torch + transformers:

  /path/to/venv/bin/python Benchmarks/smol_llava_speed.py --model ~/.cache/swift-llava/smol-llava \
      --image examples/scene-1.png --threads 2 --repeats 5
"""
import argparse
import json
import os
import statistics
import subprocess
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--image", required=True)
    ap.add_argument("--prompt", default="How many shapes are there in the image?")
    ap.add_argument("--tokens", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--llava", default=os.path.join(os.path.dirname(__file__), "..", ".build", "release", "llava"))
    args = ap.parse_args()

    import torch
    from PIL import Image
    from transformers import AutoProcessor, LlavaForConditionalGeneration
    torch.set_num_threads(args.threads)
    model = LlavaForConditionalGeneration.from_pretrained(args.model, torch_dtype=torch.float32).eval()
    processor = AutoProcessor.from_pretrained(args.model)
    system = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
    text = ("<|im_start|>system\n%s<|im_end|>\n<|im_start|>user\n<image>\n%s<|im_end|>\n<|im_start|>assistant\n"
            % (system, args.prompt))
    image = Image.open(args.image).convert("RGB")

    def hf_once():
        t0 = time.perf_counter()
        inputs = processor(images=image, text=text, return_tensors="pt")
        with torch.no_grad():
            model.generate(**inputs, max_new_tokens=args.tokens, min_new_tokens=args.tokens, do_sample=False)
        return time.perf_counter() - t0

    def ours_once():
        out = subprocess.run([args.llava, "generate", "--model", args.model, "--image", args.image, "--prompt",
                              args.prompt, "--max-tokens", str(args.tokens), "--threads",
                              str(args.threads), "--json"], capture_output=True, text=True, check=True)
        t = json.loads(out.stdout.strip().splitlines()[-1])["timings"]
        # The answer may end before 20 tokens: its measured decode rate stands for the rest (HF is held to 20).
        n = args.tokens
        decode = (n - 1) / t["decode_tokens_per_s"] if t.get("decode_tokens_per_s") else 0
        return (t.get("image_encode_ms", 0) + t.get("prefill_ms", 0)) / 1000 + decode

    hf_once()   # warm-up: first-call allocations and lazy kernels
    ours, hf = [], []
    for _ in range(args.repeats):
        ours.append(ours_once())
        hf.append(hf_once())
    mo, mh = statistics.median(ours), statistics.median(hf)
    print("time to an answer (encode + prefill + %d tokens), %d threads, medians of %d alternating runs:"
          % (args.tokens, args.threads, args.repeats))
    print("  swift-llava  %.3f s   (runs: %s)" % (mo, ", ".join("%.3f" % x for x in ours)))
    print("  HF (fp32)    %.3f s   (runs: %s)" % (mh, ", ".join("%.3f" % x for x in hf)))
    print("  ratio        %.2fx faster" % (mh / mo))


if __name__ == "__main__":
    main()
