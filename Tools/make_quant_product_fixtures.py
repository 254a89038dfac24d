#!/usr/bin/env python3
"""Regenerates Tests/Fixtures/quant-products/products.safetensors: llama.cpp's own quantised matrix products.

Random Q4_K, Q5_K and Q6_K weight rows (any bytes are valid blocks once the f16 scales are sane) times float32
activations, computed by ggml's CPU backend itself through its C API (ggml_mul_mat in a plain context, so the
weight is not repacked): 1 and 3 activation rows go through ggml_vec_dot_qX_K_q8_K, 8 and 13 rows through the tiled
path; Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0 likewise (vec_dot, or tinyBLAS with the same sums). The repacked
kernels (gemv, gemm) are reached only through a model load and are checked with model files.

Run by hand (never by CI) with llama.cpp's shared libraries from its source (llama-cpp-python's sdist vendors it):
    cmake -B /tmp/ggml -DGGML_NATIVE=ON -DBUILD_SHARED_LIBS=ON <vendor/llama.cpp> && cmake --build /tmp/ggml -j2
    GGML_LIB=/tmp/ggml/bin python Tools/make_kquant_fixtures.py          # numpy, safetensors
With --check it compares another build's results (say an AVX2 one) with the committed file instead of writing it.
"""
import argparse
import ctypes
import os
import sys

import numpy as np
from safetensors.numpy import load_file, save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "quant-products",
                   "products.safetensors")
TYPES = {"q4_K": (12, 144), "q5_K": (13, 176), "q6_K": (14, 210)}
# The 32-element types (ggml id, bytes per block, whether a minimum follows d): vec_dot for one row, tinyBLAS (the same
# sums) for Q4_0 / Q5_0 / Q8_0 from two rows up.
SMALL = {"q4_0": (2, 18, False), "q4_1": (3, 20, True), "q5_0": (6, 22, False), "q5_1": (7, 24, True),
         "q8_0": (8, 34, False)}
ROWS, COLS, TOKENS = 24, 768, (1, 3, 8, 13)


class InitParams(ctypes.Structure):
    _fields_ = [("mem_size", ctypes.c_size_t), ("mem_buffer", ctypes.c_void_p), ("no_alloc", ctypes.c_bool)]


def load_ggml(folder):
    base = ctypes.CDLL(os.path.join(folder, "libggml-base.so"), mode=ctypes.RTLD_GLOBAL)
    cpu = ctypes.CDLL(os.path.join(folder, "libggml-cpu.so"), mode=ctypes.RTLD_GLOBAL)
    base.ggml_init.restype = ctypes.c_void_p
    base.ggml_init.argtypes = [InitParams]
    base.ggml_new_tensor_2d.restype = ctypes.c_void_p
    base.ggml_new_tensor_2d.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    base.ggml_get_data.restype = ctypes.c_void_p
    base.ggml_get_data.argtypes = [ctypes.c_void_p]
    base.ggml_mul_mat.restype = ctypes.c_void_p
    base.ggml_mul_mat.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    base.ggml_new_graph.restype = ctypes.c_void_p
    base.ggml_new_graph.argtypes = [ctypes.c_void_p]
    base.ggml_build_forward_expand.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    base.ggml_free.argtypes = [ctypes.c_void_p]
    cpu.ggml_graph_compute_with_ctx.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
    return base, cpu


def random_small_blocks(type_name, rng):
    _, size, with_min = SMALL[type_name]
    blocks = rng.integers(0, 256, size=(ROWS, COLS // 32, size), dtype=np.uint8)
    def halves(lo, hi):
        return rng.uniform(lo, hi, size=(ROWS, COLS // 32)).astype(np.float16).view(np.uint8).reshape(ROWS, -1, 2)
    blocks[:, :, 0:2] = halves(0.002, 0.02)
    if with_min:
        blocks[:, :, 2:4] = halves(-0.05, 0.05)
    return blocks.reshape(ROWS, -1)


def random_blocks(type_name, rng):
    _, size = TYPES[type_name]
    blocks = rng.integers(0, 256, size=(ROWS, COLS // 256, size), dtype=np.uint8)
    def halves(lo, hi):
        return rng.uniform(lo, hi, size=(ROWS, COLS // 256)).astype(np.float16).view(np.uint8).reshape(ROWS, -1, 2)
    d = halves(0.002, 0.02)
    if type_name == "q6_K":
        blocks[:, :, 208:210] = d
    else:
        dmin = halves(0.001, 0.01)
        blocks[:, :, 0:2] = d
        blocks[:, :, 2:4] = dmin
    return blocks.reshape(ROWS, -1)


def product(ggml, type_id, weight, x):
    base, cpu = ggml
    ctx = base.ggml_init(InitParams(64 << 20, None, False))
    w = base.ggml_new_tensor_2d(ctx, type_id, COLS, ROWS)
    ctypes.memmove(base.ggml_get_data(w), weight.ctypes.data, weight.nbytes)
    a = base.ggml_new_tensor_2d(ctx, 0, COLS, x.shape[0])
    ctypes.memmove(base.ggml_get_data(a), x.ctypes.data, x.nbytes)
    y = base.ggml_mul_mat(ctx, w, a)
    graph = base.ggml_new_graph(ctx)
    base.ggml_build_forward_expand(graph, y)
    cpu.ggml_graph_compute_with_ctx(ctx, graph, 2)
    out = np.empty((x.shape[0], ROWS), dtype=np.float32)
    ctypes.memmove(out.ctypes.data, base.ggml_get_data(y), out.nbytes)
    base.ggml_free(ctx)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    ggml = load_ggml(os.environ["GGML_LIB"])
    rng = np.random.default_rng(7)
    tensors = {"x": rng.uniform(-1, 1, size=(max(TOKENS), COLS)).astype(np.float32)}
    tensors["x"][2, :256] = 0   # an all-zero activation block
    for name, (type_id, _, _) in SMALL.items():
        weight = random_small_blocks(name, rng)
        tensors[name + ".weight"] = weight
        for t in TOKENS:
            tensors[f"{name}.y{t}"] = product(ggml, type_id, weight, np.ascontiguousarray(tensors["x"][:t]))
    for name, (type_id, _) in TYPES.items():
        weight = random_blocks(name, rng)
        tensors[name + ".weight"] = weight
        for t in TOKENS:
            tensors[f"{name}.y{t}"] = product(ggml, type_id, weight, np.ascontiguousarray(tensors["x"][:t]))
    if args.check:
        ref = load_file(OUT)
        bad = [k for k in ref if not np.array_equal(ref[k].view(np.uint8), tensors[k].view(np.uint8))]
        print("identical" if not bad else "differ: " + ", ".join(bad))
        sys.exit(1 if bad else 0)
    save_file(tensors, OUT)
    print("wrote", OUT, {k: v.shape for k, v in tensors.items()})


if __name__ == "__main__":
    main()
