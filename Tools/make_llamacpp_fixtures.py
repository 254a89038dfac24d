#!/usr/bin/env python3
"""Regenerates Tests/Fixtures/llamacpp/smollm2.json: llama.cpp's own tokens for SmolLM2-135M-Instruct.

Run by hand in a venv outside the repo (never by CI); llama-cpp-python builds llama.cpp from source:
    ~/venv-ref/bin/pip install llama-cpp-python jinja2 numpy
    ./scripts/fetch-test-models.sh          # puts the GGUF under ~/.cache/swift-llava
    ~/venv-ref/bin/python Tools/make_llamacpp_fixtures.py

One file per CPU level (each level of ours reproduces one llama.cpp CPU build): smollm2.json is an AVX-512 build's
record (-DGGML_NATIVE=ON on an AVX-512 VNNI machine); `--level avx2` writes smollm2-avx2.json from a build with
-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF, whose shared
libraries llama-cpp-python loads when its package was installed with CMAKE_ARGS=-DLLAMA_BUILD=OFF and
LLAMA_CPP_LIB_PATH names the build's bin/ folder:
    LLAMA_CPP_LIB_PATH=/tmp/build-avx2/bin ~/venv-ref/bin/python Tools/make_llamacpp_fixtures.py --level avx2
`--long` records the long prompts instead (LONG_CUTS: 64 to 300 tokens, continued past 256 cells): llama.cpp's
tiled and split-KV flash-attention kernels, its 512-cell KV view without them; with a digest of its logits (all
prompt positions', then each decode step's: see `digest`), which ours equal bit for bit.
Conversions (Q4_K_M mixes Q5_0, Q4_K, Q6_K and Q8_0 here: SmolLM2's 576 columns are no whole k-quant block) with
    llama-quantize --allow-requantize SmolLM2-135M-Instruct.Q4_1.gguf /tmp/smol-Q4_K_M.gguf Q4_K_M
    ... make_llamacpp_fixtures.py --model /tmp/smol-Q4_K_M.gguf --name smollm2-q4_k_m [--level avx2]

For each prompt it records the prompt as llama.cpp tokenizes it and the greedy continuation
(argmax of llama.cpp's logits; without flash attention, llama-cpp-python's default, or with `--flash-attn on`,
what llama.cpp's own tools pick by default on a CPU: files ending -fa.json). Chat prompts
are rendered with the GGUF's own Jinja chat template, as llama-cpp-python renders them.
"""
import json
import os

import jinja2
import numpy as np
from llama_cpp import Llama

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "llamacpp")
MODEL = os.path.expanduser(os.environ.get("SWIFT_LLAVA_CACHE", "~/.cache/swift-llava")) + "/SmolLM2-135M-Instruct.Q4_1.gguf"
N_GEN = 32

RAW = [
    "The capital of France is",
    "Once upon a time, in a small village,",
    "def fibonacci(n):\n",
    "1, 2, 3, 4, 5,",
]
CHAT = [
    "What is the capital of France?",
    "Write a haiku about the sea.",
    "Explain photosynthesis in one sentence.",
]

# `--long`: prompts cut from this text at LONG_CUTS tokens (BOS included), each continued for its count of tokens:
# prompts of 64 tokens and more take llama.cpp's tiled flash-attention kernel, and decoding past 256 cells its
# split-KV kernel (the KV view reaches 512 cells).
LONG_TEXT = (
    "The lighthouse stood at the end of a long stone pier, and every evening the keeper climbed its one hundred and "
    "twelve steps to light the lamp. He had done this for thirty years, through storms that shook the glass and "
    "summer nights so calm that the sea looked like a sheet of dark metal. In the morning he wrote in a thick book "
    "what the weather had been, which ships had passed, and how much oil the lamp had burned. The book was the "
    "fourth of its kind; the first three sat on a shelf in the kitchen, their covers soft with salt. One winter a "
    "girl from the village began to bring him bread on Sundays. She asked about the ships, the lamp and the book, "
    "and he answered her questions slowly, as if each one deserved a whole afternoon. She learned to trim the wick, "
    "to polish the brass, and to read the barometer that hung by the door. When the spring came she could name "
    "every flag that a passing ship might fly, and she knew which clouds meant rain before noon. The keeper began "
    "to leave the book open on the table so that she could add a line of her own at the end of each day. Years "
    "later, when the lamp was replaced by an electric light that needed no keeper at all, the town asked her to "
    "write the history of the lighthouse. She sat down at the same kitchen table, opened the first of the old "
    "books, and began with the words he had written on its first page: the wind is from the west, the sea is "
    "quiet, and the light was lit at dusk. After that she wrote about the storms, the ships, the oil and the "
    "bread, and about the long evenings when the two of them watched the beam turn slowly over the water."
)
LONG_CUTS = [(64, 32), (100, 32), (230, 48), (300, 24)]


def digest(logits):
    """The logits' float32 bit patterns u[i] (row-major) folded as sum of u[i] * (2i + 1) mod 2^64, in hex: any change
    to any one value changes it (the multipliers are odd), and the Swift test computes it in a line."""
    u = np.ascontiguousarray(logits, dtype="<f4").view("<u4").astype(np.uint64).ravel()
    w = np.arange(u.size, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    return "%016x" % int(np.sum(u * w, dtype=np.uint64))


def greedy(m, tokens, n_gen=N_GEN, digests=None):
    """Greedy continuation; with `digests` (a list) also the digest of the logits: first of every prompt position's,
    then of each decode step's (the bits themselves, since ours are llama.cpp's to the bit)."""
    m.reset()
    m.eval(tokens)
    if digests is not None:
        digests.append(digest(m.scores[:m.n_tokens]))
    out = []
    for _ in range(n_gen):
        t = int(np.argmax(m.scores[m.n_tokens - 1]))
        if t == m.token_eos():
            break
        out.append(t)
        m.eval([t])
        if digests is not None:
            digests.append(digest(m.scores[m.n_tokens - 1]))
    return out


def main():
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--level", default="avx512", help="the CPU level of the llama.cpp build loaded (names the file)")
    ap.add_argument("--model", default=MODEL, help="another GGUF, e.g. a llama-quantize conversion of the Q4_1 one")
    ap.add_argument("--name", default="smollm2", help="the fixture's name (smollm2-q4_k_m for a Q4_K_M conversion)")
    ap.add_argument("--flash-attn", choices=["on", "off"], default="off",
                    help="llama.cpp's attention mode; on (what -fa auto picks on a CPU) names the file ...-fa.json")
    ap.add_argument("--long", action="store_true",
                    help="the long prompts (LONG_CUTS of LONG_TEXT) instead of the short ones: ...-long...json")
    args = ap.parse_args()
    name = args.name + ("-long" if args.long else "") + ("" if args.level == "avx512" else "-%s" % args.level) \
        + ("-fa" if args.flash_attn == "on" else "") + ".json"
    os.makedirs(ROOT, exist_ok=True)
    m = Llama(model_path=args.model, n_ctx=512, n_threads=2, logits_all=True, verbose=False,
              flash_attn=args.flash_attn == "on")
    template = m.metadata["tokenizer.chat_template"]
    env = jinja2.Environment(loader=jinja2.BaseLoader())
    cases = []
    if args.long:
        whole = m.tokenize(LONG_TEXT.encode(), add_bos=True, special=False)
        assert len(whole) >= LONG_CUTS[-1][0], len(whole)
        for cut, n_gen in LONG_CUTS:
            toks = whole[:cut]
            digests = []
            cases.append({"kind": "raw", "prompt": m.detokenize(toks).decode("utf-8", "replace"),
                          "prompt_tokens": toks, "greedy": greedy(m, toks, n_gen, digests), "logits_digest": digests})
    for text in ([] if args.long else RAW):
        toks = m.tokenize(text.encode(), add_bos=True, special=False)
        cases.append({"kind": "raw", "prompt": text, "prompt_tokens": toks, "greedy": greedy(m, toks)})
    for text in ([] if args.long else CHAT):
        rendered = env.from_string(template).render(messages=[{"role": "user", "content": text}],
                                                    add_generation_prompt=True, bos_token="", eos_token="")
        toks = m.tokenize(rendered.encode(), add_bos=True, special=True)
        cases.append({"kind": "chat", "prompt": text, "rendered": rendered, "prompt_tokens": toks, "greedy": greedy(m, toks)})
    for c in cases:
        c["greedy_text"] = m.detokenize(c["greedy"]).decode("utf-8", "replace")
        print(c["kind"], repr(c["prompt"]), "->", repr(c["greedy_text"]))
    record = {"model": os.path.basename(args.model), "n_gen": N_GEN, "cases": cases}
    if args.level != "avx512":
        record["level"] = args.level
    if args.flash_attn == "on":
        record["flash_attn"] = True
    with open(os.path.join(ROOT, name), "w") as f:
        json.dump(record, f, ensure_ascii=False, indent=1)


if __name__ == "__main__":
    main()
