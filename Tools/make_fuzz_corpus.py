#!/usr/bin/env python3
"""The seed corpus of scripts/fuzz.sh: small valid inputs per target, from which libFuzzer mutates (Fuzz/corpus/).

Run by hand (never by CI), with the system python (no packages needed):
    python3 Tools/make_fuzz_corpus.py

Files are written here rather than copied from elsewhere: each seed is a few hundred bytes to ~20 KB, inside the
harness's 64 KiB input limit, and covers one branch the parser has (dtypes, metadata, quant types, token types, image
colour types, request shapes, reply shapes).
"""
import base64
import json
import os
import shutil
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "Fuzz", "corpus")
FIX = os.path.join(ROOT, "Tests", "Fixtures")


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def safetensors(tensors, metadata=None):
    header, blob = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(blob), len(blob) + len(raw)]}
        blob += raw
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + blob


def gguf_string(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gguf(metadata, tensors):
    # GGUF v3: value types 4 uint32, 5 int32, 6 float32, 8 string, 9 array, 10 uint64.
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(metadata))
    for key, (vtype, value) in metadata.items():
        out += gguf_string(key) + struct.pack("<I", vtype)
        if vtype == 8:
            out += gguf_string(value)
        elif vtype == 9:
            etype, items = value
            out += struct.pack("<IQ", etype, len(items))
            for it in items:
                out += gguf_string(it) if etype == 8 else struct.pack({5: "<i", 6: "<f", 4: "<I"}[etype], it)
        else:
            out += struct.pack({4: "<I", 5: "<i", 6: "<f", 10: "<Q"}[vtype], value)
    offset, blobs = 0, b""
    for name, (ggml_type, dims, raw) in tensors.items():
        out += gguf_string(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        out += struct.pack("<IQ", ggml_type, offset)
        blobs += raw + b"\0" * (-len(raw) % 32)
        offset = len(blobs)
    out += b"\0" * (-len(out) % 32)
    return out + blobs


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)

    # safetensors: dtypes, metadata, an empty tensor, a scalar.
    put("safetensors", "f32-i64.safetensors", safetensors({
        "a.weight": ("F32", [2, 3], struct.pack("<6f", *range(6))),
        "ids": ("I64", [3], struct.pack("<3q", 1, -200, 7))}, {"format": "pt"}))
    put("safetensors", "f16-bf16.safetensors", safetensors({
        "h": ("F16", [2, 2], struct.pack("<4H", 0x3C00, 0xC000, 0x7BFF, 0x0001)),
        "b": ("BF16", [4], struct.pack("<4H", 0x3F80, 0xBF80, 0x7F80, 0x0000)),
        "empty": ("F32", [0, 4], b""), "scalar": ("F32", [], struct.pack("<f", 2.5))}))

    # GGUF: a llama vocabulary (tokens, scores, types, merges) and F32 / F16 / Q8_0 / Q4_0 tensors.
    tokens = ["<unk>", "<s>", "</s>", "<0x0A>", "▁", "▁Hello", "▁world", "H", "e", "l", "o", "w", "r", "d", "!",
              "▁w", "or", "ld", "<image>", "▁12"]
    meta = {
        "general.architecture": (8, "llama"), "general.alignment": (4, 32),
        "llama.context_length": (4, 64), "llama.embedding_length": (4, 8), "llama.block_count": (4, 1),
        "tokenizer.ggml.model": (8, "llama"),
        "tokenizer.ggml.tokens": (9, (8, tokens)),
        "tokenizer.ggml.scores": (9, (6, [float(-i) for i in range(len(tokens))])),
        "tokenizer.ggml.token_type": (9, (5, [2, 3, 3, 6] + [1] * (len(tokens) - 4))),
        "tokenizer.ggml.bos_token_id": (4, 1), "tokenizer.ggml.eos_token_id": (4, 2),
    }
    q8 = struct.pack("<H", 0x3C00) + bytes(range(32))
    q4 = struct.pack("<H", 0x3C00) + bytes(range(16))
    put("gguf", "llama-vocab.gguf", gguf(meta, {
        "token_embd.weight": (0, [8, 2], struct.pack("<16f", *range(16))),
        "f16": (1, [4], struct.pack("<4H", 0x3C00, 0, 0xBC00, 0x4000)),
        "q8": (8, [32], q8), "q4": (2, [32], q4)}))
    gpt2 = dict(meta)
    gpt2["tokenizer.ggml.model"] = (8, "gpt2")
    gpt2["tokenizer.ggml.pre"] = (8, "smollm")
    gpt2["tokenizer.ggml.tokens"] = (9, (8, ["H", "e", "l", "o", "Ġ", "w", "r", "d", "He", "ll", "Ġw", "<|im_end|>"]))
    gpt2["tokenizer.ggml.scores"] = (9, (6, [0.0] * 12))
    gpt2["tokenizer.ggml.token_type"] = (9, (5, [1] * 11 + [3]))
    gpt2["tokenizer.ggml.merges"] = (9, (8, ["H e", "l l", "Ġ w"]))
    gpt2["tokenizer.ggml.bos_token_id"] = (4, 11)
    gpt2["tokenizer.ggml.eos_token_id"] = (4, 11)
    put("gguf", "gpt2-vocab.gguf", gguf(gpt2, {}))
    with open(os.path.join(FIX, "gguf", "blocks.gguf"), "rb") as f:
        put("gguf", "blocks.gguf", f.read())

    # tokenizer.json (byte-level BPE with added tokens) and a SentencePiece model.
    with open(os.path.join(FIX, "llava-hf", "tokenizer-first", "tokenizer.json"), "rb") as f:
        full = f.read()
    put("tokenizer-json", "bpe.json", full)
    # The same layout with a 48-entry vocabulary: a small seed, so most mutations cost microseconds, not milliseconds.
    small = json.loads(full)
    vocab = dict(sorted(small["model"]["vocab"].items(), key=lambda kv: kv[1])[:48])
    small["model"]["vocab"] = vocab
    def merge_parts(m):
        return m.split(" ") if isinstance(m, str) else m
    small["model"]["merges"] = [m for m in small["model"]["merges"]
                                if all(p in vocab for p in merge_parts(m)) and "".join(merge_parts(m)) in vocab]
    small["added_tokens"] = [t for t in small["added_tokens"] if t["id"] < 48] or small["added_tokens"][:2]
    put("tokenizer-json", "small.json", json.dumps(small, separators=(",", ":")).encode())
    with open(os.path.join(FIX, "original-llava", "llava-v1.5-tiny", "tokenizer.model"), "rb") as f:
        put("sentencepiece", "tiny.model", f.read())

    # Images: JPEG baseline 4:4:4 / gray / 4:2:0; PNG RGB, RGBA, LA, palette (+tRNS), gray + tRNS, 16-bit.
    images = os.path.join(FIX, "llava-hf", "images")
    for name in ["rocket-444.jpg", "camera-gray.jpg", "chelsea.jpg"]:
        with open(os.path.join(images, name), "rb") as f:
            put("jpeg", name, f.read())
    for name in ["astronaut.png", "coffee-rgba.png", "camera-la-alpha.png", "coffee-palette-trns.png",
                 "camera-gray-trns.png", "astronaut-rgb-trns.png", "camera-16.png", "coffee-palette.png"]:
        with open(os.path.join(images, name), "rb") as f:
            put("png", name, f.read())

    # Chat-completion requests: text, parts with a data-URI image, stream options, every sampling field.
    with open(os.path.join(images, "camera-gray-trns.png"), "rb") as f:
        uri = "data:image/png;base64," + base64.b64encode(f.read()).decode()
    put("chat-request", "text.json", json.dumps({"model": "smol", "messages": [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]}))
    put("chat-request", "image.json", json.dumps({"messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": uri}}]}],
        "max_tokens": 8, "temperature": 0.2, "top_p": 0.9, "seed": 3, "stop": ["\n", "."],
        "stream": True, "stream_options": {"include_usage": True}}))
    put("chat-request", "assistant.json", json.dumps({"messages": [
        {"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
        {"role": "user", "content": [{"type": "text", "text": "c"}]}], "max_completion_tokens": 2, "stop": "x"}))

    # Teacher replies (LLaVA's conversation / detail / complex formats) and judge replies.
    put("curation-reply", "conversation.txt", "Question:\nWhat color is the circle?\n===\nAnswer:\nThe circle is red."
        "\n===\nQuestion:\nHow many shapes are there?\n===\nAnswer:\nThere are three shapes.\n")
    put("curation-reply", "inline.txt", "Q: Where is the star?\nA: In the top left.\nQ: Is it big?\nA: No.")
    put("curation-reply", "detail.txt", "The image shows two shapes on a plain background. A large blue square is "
        "on the left.")
    put("judge-score", "pair.txt", "8 7\nAssistant 1 gave a precise answer; Assistant 2 missed the count.")
    put("judge-score", "words.txt", "Assistant 1: 9/10\nAssistant 2: 6.5/10\n")
    put("judge-score", "none.txt", "I cannot rate these answers.")

    # LLaVA-Instruct JSON: image and text-only samples, gpt/human turns.
    put("instruct-json", "instruct.json", json.dumps([
        {"id": "000000033471", "image": "000000033471.jpg", "conversations": [
            {"from": "human", "value": "<image>\nWhat are the colors of the bus in the image?"},
            {"from": "gpt", "value": "The bus in the image is white and red."}]},
        {"id": "t1", "conversations": [{"from": "human", "value": "Hello"}, {"from": "gpt", "value": "Hi!"}]}],
        indent=1))
    total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(OUT) for f in fs)
    print(f"wrote {OUT}: {total} bytes")


if __name__ == "__main__":
    main()
