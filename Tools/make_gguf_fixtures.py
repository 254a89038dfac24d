#!/usr/bin/env python3
"""Regenerates Tests/Fixtures/gguf: block formats and metadata as llama.cpp's own gguf-py writes and reads them.

Run by hand in a venv outside the repo (never by CI):
    ~/venv-ref/bin/pip install gguf numpy safetensors
    ~/venv-ref/bin/python Tools/make_gguf_fixtures.py

Writes:
  blocks.gguf          one tensor per block format (2 rows of 512), plus metadata of every value type
  blocks.safetensors   gguf-py's dequantisation of each tensor ("deq.<TYPE>", f32 [2, 512]) and, for the
                       formats gguf-py can quantise, the float input ("src.<TYPE>") so our quantiser's bytes
                       can be compared ("bytes.<TYPE>", u8)
"""
import os

import numpy as np
from gguf import GGMLQuantizationType as T, GGUFWriter, quants
from safetensors.numpy import save_file

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "gguf")
TYPES = ["F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"]


def random_blocks(qtype, rows, cols, rng):
    """Valid blocks of a format gguf-py cannot quantise: random bits with sane f16 scales."""
    block, nbytes = quants.GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, size=(rows, cols // block, nbytes), dtype=np.uint8)
    def f16s(n):
        return rng.uniform(0.001, 0.05, size=(rows, cols // block, n)).astype(np.float16).view(np.uint8)
    if qtype == T.Q2_K:      # scales[16] qs[64] d dmin
        raw[..., 80:84] = f16s(2)
    elif qtype == T.Q3_K:    # hmask[32] qs[64] scales[12] d
        raw[..., 108:110] = f16s(1)
    elif qtype in (T.Q4_K, T.Q5_K):  # d dmin ...
        raw[..., 0:4] = f16s(2)
    elif qtype == T.Q6_K:    # ql[128] qh[64] scales[16] d
        raw[..., 208:210] = f16s(1)
    return raw.reshape(rows, -1)


def main():
    os.makedirs(ROOT, exist_ok=True)
    rng = np.random.default_rng(7)
    path = os.path.join(ROOT, "blocks.gguf")
    w = GGUFWriter(path, arch="llama")
    w.add_uint8("test.u8", 200)
    w.add_int8("test.i8", -100)
    w.add_uint16("test.u16", 60000)
    w.add_int16("test.i16", -30000)
    w.add_uint32("test.u32", 4_000_000_000)
    w.add_int32("test.i32", -2_000_000_000)
    w.add_uint64("test.u64", 2**40 + 3)
    w.add_int64("test.i64", -(2**40) - 3)
    w.add_float32("test.f32", 0.15625)
    w.add_float64("test.f64", -2.5e-300)
    w.add_bool("test.bool", True)
    w.add_string("test.string", "héllo ✨")
    w.add_array("test.ints", [1, -2, 3])
    w.add_array("test.strings", ["a", "bc", ""])
    w.add_array("test.nested", [[1, 2], [3]])
    expected = {}
    rows, cols = 2, 512
    for name in TYPES:
        qtype = T[name]
        x = (rng.standard_normal((rows, cols)) * 0.7).astype(np.float32)
        if name == "F32":
            data = x
        elif name == "F16":
            data = x.astype(np.float16)
        else:
            try:
                data = quants.quantize(x, qtype)
                expected["src." + name] = x
                expected["bytes." + name] = np.ascontiguousarray(data.reshape(-1))
            except (NotImplementedError, quants.QuantError):
                data = random_blocks(qtype, rows, cols, rng)
        if name in ("F32", "F16"):
            w.add_tensor("t." + name, data)
            deq = data.astype(np.float32)
        else:
            w.add_tensor("t." + name, data, raw_shape=data.shape, raw_dtype=qtype)
            deq = quants.dequantize(data, qtype).astype(np.float32)
        expected["deq." + name] = np.ascontiguousarray(deq.reshape(rows, cols))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    save_file(expected, os.path.join(ROOT, "blocks.safetensors"))
    print(sorted(expected))


if __name__ == "__main__":
    main()
