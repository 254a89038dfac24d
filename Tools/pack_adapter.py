#!/usr/bin/env python3
"""Packs what a LoRA `llava train` run exported (DIR/adapter: adapter_config.json, adapter_model.safetensors,
non_lora_trainables.safetensors, all float32) into the committed SmolLLaVA adapter: the same files in float16
(half the bytes; the assembled model is measured from these, not from the float32 originals), the run's log and loss
curve, and SHA256SUMS that scripts/fetch-test-models.sh checks before assembling. Only numpy is needed.

  python3 Tools/pack_adapter.py --run RUN_DIR --output models/smol-llava-adapter
"""
import argparse
import hashlib
import json
import os
import shutil
import struct

import numpy as np


def read(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out, meta = {}, header.pop("__metadata__", {})
    for name, info in header.items():
        a, b = info["data_offsets"]
        if info["dtype"] != "F32":
            raise SystemExit("error: %s: %s is %s, expected F32" % (path, name, info["dtype"]))
        out[name] = np.frombuffer(data[a:b], dtype="<f4").reshape(info["shape"])
    return out, meta


def write_f16(tensors, meta, path):
    header, offset = {}, 0
    for name in sorted(tensors):
        t = tensors[name].astype("<f2")
        header[name] = {"dtype": "F16", "shape": list(t.shape), "data_offsets": [offset, offset + t.nbytes]}
        offset += t.nbytes
    header["__metadata__"] = meta or {"format": "pt"}
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * ((8 - len(blob) % 8) % 8)
    with open(path + ".part", "wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for name in sorted(tensors):
            f.write(tensors[name].astype("<f2").tobytes())
    os.replace(path + ".part", path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True, help="a finished LoRA `llava train` output folder")
    ap.add_argument("--output", required=True)
    args = ap.parse_args()
    src = os.path.join(args.run, "adapter")
    os.makedirs(args.output, exist_ok=True)
    for name in ["adapter_model.safetensors", "non_lora_trainables.safetensors"]:
        tensors, meta = read(os.path.join(src, name))
        write_f16(tensors, meta, os.path.join(args.output, name))
    with open(os.path.join(src, "adapter_config.json")) as f:
        cfg = json.load(f)
    cfg["base_model_name_or_path"] = "smol-llava-base (scripts/assemble_smol_llava.py)"
    with open(os.path.join(args.output, "adapter_config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
    for extra in ["loss.svg", "log.jsonl"]:
        if os.path.exists(os.path.join(args.run, extra)):
            shutil.copyfile(os.path.join(args.run, extra), os.path.join(args.output, extra))
    files = ["adapter_config.json", "adapter_model.safetensors", "non_lora_trainables.safetensors"]
    with open(os.path.join(args.output, "SHA256SUMS"), "w") as f:
        for name in files:
            with open(os.path.join(args.output, name), "rb") as g:
                f.write("%s  %s\n" % (hashlib.sha256(g.read()).hexdigest(), name))
    size = sum(os.path.getsize(os.path.join(args.output, n)) for n in files)
    print("packed %s: %.2f MB" % (args.output, size / 1e6))


if __name__ == "__main__":
    main()
