#!/usr/bin/env python3
"""Regenerates Tests/Fixtures/llamacpp/converted.json: llama.cpp running the GGUF files `llava convert` makes.

Run by hand (never by CI) after building swift-llava, in a venv with llama-cpp-python:
    swift build -c release
    ~/venv-ref/bin/python Tools/make_convert_fixtures.py

For each tiny llava-hf fixture and each language-model type, it converts with our CLI, loads the result in
llama.cpp and records: llama.cpp's tokenisation of a text prompt, and its greedy continuation.
Conversion is deterministic, so the Swift test converts again and must reproduce these.
"""
import json
import os
import subprocess
import tempfile

import numpy as np
from llama_cpp import Llama

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
LLAVA = os.path.join(ROOT, ".build", "release", "llava")
PROMPT = "USER: Tell me a story about a cat. ASSISTANT:"
MODELS = ["tiny-gqa-crop", "tiny-mha-pad-full", "tiny-bf16-sharded"]
TYPES = ["f32", "f16", "q8_0", "q4_0"]
N_GEN = 16


def main():
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in MODELS:
            for t in TYPES:
                lm, mm = os.path.join(tmp, f"{name}-{t}.gguf"), os.path.join(tmp, f"{name}-mmproj.gguf")
                subprocess.run([LLAVA, "convert", "--model", os.path.join(ROOT, "Tests/Fixtures/llava-hf", name),
                                "--outfile", lm, "--mmproj-outfile", mm, "--type", t], check=True, capture_output=True)
                m = Llama(model_path=lm, n_ctx=256, n_threads=2, logits_all=True, verbose=False, flash_attn=False)
                toks = m.tokenize(PROMPT.encode(), add_bos=True, special=False)
                m.reset()
                m.eval(toks)
                gen = []
                for _ in range(N_GEN):
                    nxt = int(np.argmax(m.scores[m.n_tokens - 1]))
                    if nxt == m.token_eos():
                        break
                    gen.append(nxt)
                    m.eval([nxt])
                out.append({"model": name, "type": t, "prompt": PROMPT, "prompt_tokens": toks, "greedy": gen})
                print(name, t, toks[:6], gen[:8])
    with open(os.path.join(ROOT, "Tests/Fixtures/llamacpp/converted.json"), "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
