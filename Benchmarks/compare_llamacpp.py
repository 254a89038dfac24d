#!/usr/bin/env python3
"""swift-llava vs llama.cpp (and optionally PyTorch) on the same files; driven by Benchmarks/compare-llamacpp.

Workloads (DESIGN.md / issues 4, 14): SmolLM2-135M Q4_1 (prefill 512, decode 128); the LLaVA-1.5-7B-shaped random
model (`llava init-random`) as Q4_0, Q8_0 and Q4_K_M (made from the Q8_0 by llama.cpp's own quantizer, through
llama-cpp-python's llama_model_quantize, --allow-requantize) with one 336x336 image plus a 32-token question, 32
decoded tokens. Both sides name the CPU level they ran at: swift-llava's kernel level (LLAVA_CPU_LEVEL lowers it) and
llama.cpp's system info (which build LLAMA_CPP_LIB_PATH loads, when set).
Runs alternate between implementations; each figure is the median of --repeats runs. Also measures the machine —
memory read bandwidth (a 1 GB f32 matrix-vector product on --threads BLAS threads, which only streams the matrix),
copy bandwidth, f32 GEMM peak (numpy/OpenBLAS) and, with --torch, bf16 GEMM peak (PyTorch/oneDNN) — and reports the
fraction of each that swift-llava reaches: decode against read bandwidth, image encode and prefill against the GEMM
peaks (FLOPs counted from the model's shapes).
"""
import argparse
import ctypes
import json
import os
import statistics
import subprocess
import sys
import time

if __name__ == "__main__":
    # The BLAS used for the machine's figures runs on as many threads as the implementations measured.
    _t = sys.argv[sys.argv.index("--threads") + 1] if "--threads" in sys.argv else "2"
    os.environ.setdefault("OPENBLAS_NUM_THREADS", _t)
    os.environ.setdefault("OMP_NUM_THREADS", _t)

import numpy as np


def swift_bench(llava, model, mmproj, image, prompt, gen, threads, vision_precision="f32", flash_attn="on"):
    cmd = [llava, "bench", "--model", model, "--prompt-tokens", str(prompt), "--gen-tokens", str(gen),
           "--threads", str(threads), "--flash-attn", flash_attn, "--json"]
    if mmproj:
        cmd += ["--mmproj", mmproj, "--image", image, "--vision-precision", vision_precision]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    r = json.loads(out)
    return {"encode_ms": r["image_encode_ms"], "prefill": r["prefill_tokens_per_s"], "decode": r["decode_tokens_per_s"],
            "rss_mb": r["peak_rss_mb"], "level": r.get("cpu_level", "?")}


QUANTIZE_SNIPPET = r'''
import ctypes, os, sys
import llama_cpp as L
p = L.llama_model_quantize_default_params()
p.ftype = 15            # LLAMA_FTYPE_MOSTLY_Q4_K_M
p.allow_requantize = True
p.nthread = int(sys.argv[3])
tmp = sys.argv[2] + ".part"
rc = L.llama_model_quantize(sys.argv[1].encode(), tmp.encode(), ctypes.byref(p))
if rc == 0:
    os.replace(tmp, sys.argv[2])
sys.exit(rc)
'''


def make_q4_k_m(src, dst, threads):
    """Q4_K_M from the Q8_0 by llama.cpp's quantizer (what `llama-quantize --allow-requantize ... Q4_K_M` does)."""
    subprocess.run([sys.executable, "-c", QUANTIZE_SNIPPET, src, dst, str(threads)], check=True)


LLAMA_SNIPPET = r'''
import json, sys, time, ctypes, resource
import numpy as np
from llama_cpp import Llama
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
model, mmproj, image, prompt, gen, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
flash = sys.argv[7] == "on"
n_img = 576 if mmproj else 0
m = Llama(model_path=model, n_ctx=prompt + n_img + gen + 16, n_threads=threads, n_threads_batch=threads, n_batch=512,
          n_ubatch=512, verbose=False, flash_attn=flash)
encode_ms = 0.0
if mmproj:
    from llama_cpp import mtmd_cpp as M
    from PIL import Image
    p = M.mtmd_context_params_default(); p.use_gpu = False; p.n_threads = threads; p.print_timings = False
    ctx = M.mtmd_init_from_file(mmproj.encode(), m.model, p)
    img = np.array(Image.open(image).convert("RGB"), dtype=np.uint8)
    buf = (ctypes.c_uint8 * img.size).from_buffer_copy(img.tobytes())
    bmp = M.mtmd_bitmap_init(img.shape[1], img.shape[0], buf)
    chunks = M.mtmd_input_chunks_init()
    marker = M.mtmd_default_marker()
    txt = M.mtmd_input_text(); txt.text = marker; txt.text_len = len(marker); txt.add_special = False; txt.parse_special = True
    M.mtmd_tokenize(ctx, chunks, ctypes.byref(txt), (M.mtmd_bitmap_p_ctypes * 1)(bmp), 1)
    for i in range(M.mtmd_input_chunks_size(chunks)):
        ch = M.mtmd_input_chunks_get(chunks, i)
        if M.mtmd_input_chunk_get_type(ch) == 1:
            t0 = time.perf_counter(); M.mtmd_encode_chunk(ctx, ch); encode_ms = (time.perf_counter() - t0) * 1000
vocab = m.n_vocab()
ids = [1] + [(1000 + 31 * i) % (vocab - 100) + 50 for i in range(prompt + n_img - 1)]
m.reset()
t0 = time.perf_counter(); m.eval(ids); t1 = time.perf_counter()
import llama_cpp as L
def last_logits():
    return np.ctypeslib.as_array(L.llama_get_logits_ith(m.ctx, -1), shape=(vocab,))
for _ in range(gen):
    m.eval([int(np.argmax(last_logits()))])
t2 = time.perf_counter()
info = L.llama_print_system_info().decode()
level = "avx512" if "AVX512 = 1" in info else "avx2" if "AVX2 = 1" in info else "other"
print(json.dumps({"encode_ms": encode_ms, "prefill": len(ids) / (t1 - t0), "decode": gen / (t2 - t1),
                  "rss_mb": hwm(), "level": level}))
'''


def llama_bench(model, mmproj, image, prompt, gen, threads, flash_attn="on"):
    out = subprocess.run([sys.executable, "-c", LLAMA_SNIPPET, model, mmproj or "", image, str(prompt), str(gen), str(threads),
                          flash_attn],
                         check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    return json.loads(out)


TORCH_SNIPPET = r'''
import json, sys, time, resource
import torch
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
from transformers import LlavaForConditionalGeneration
folder, prompt, gen, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
m = LlavaForConditionalGeneration.from_pretrained(folder, dtype=torch.bfloat16).eval()
px = torch.randn(1, 3, 336, 336, dtype=torch.bfloat16)
with torch.inference_mode():
    t0 = time.perf_counter(); feats = m.model.get_image_features(pixel_values=px, vision_feature_layer=-2, vision_feature_select_strategy="default"); t1 = time.perf_counter()
    ids = torch.tensor([[1] + [m.config.image_token_index] * 576 + [(1000 + 31 * i) % 30000 + 50 for i in range(prompt - 1)]])
    t2 = time.perf_counter(); out = m(input_ids=ids, pixel_values=px, use_cache=True); t3 = time.perf_counter()
    past = out.past_key_values; nxt = out.logits[:, -1:].argmax(-1)
    t4 = time.perf_counter()
    for _ in range(gen):
        o = m(input_ids=nxt, past_key_values=past, use_cache=True); past = o.past_key_values; nxt = o.logits[:, -1:].argmax(-1)
    t5 = time.perf_counter()
enc = (t1 - t0) * 1000
print(json.dumps({"encode_ms": enc, "prefill": ids.shape[1] / ((t3 - t2) - (t1 - t0)), "decode": gen / (t5 - t4),
                  "rss_mb": hwm()}))
'''


def torch_bench(folder, prompt, gen, threads):
    out = subprocess.run([sys.executable, "-c", TORCH_SNIPPET, folder, str(prompt), str(gen), str(threads)],
                         check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    return json.loads(out)


def read_bandwidth():
    """GB/s of a 1 GB f32 matrix-vector product (BLAS threads = --threads): it only streams the matrix."""
    m = np.ones((16384, 16384), dtype=np.float32)
    v = np.ones(16384, dtype=np.float32)
    m @ v
    best = 0.0
    for _ in range(5):
        t0 = time.perf_counter(); m @ v; dt = time.perf_counter() - t0
        best = max(best, m.nbytes / dt / 1e9)
    return best


def machine(threads, with_torch):
    """Read and copy bandwidth (GB/s), f32 GEMM GFLOPS (numpy), bf16 GEMM GFLOPS (PyTorch, or 0 without it)."""
    a = np.ones(256 * 1024 * 1024 // 4, dtype=np.float32)   # 256 MB
    b = np.empty_like(a)
    copy = 0.0
    for _ in range(5):
        t0 = time.perf_counter(); np.copyto(b, a); dt = time.perf_counter() - t0
        copy = max(copy, 2 * a.nbytes / dt / 1e9)
    del a, b
    read = read_bandwidth()
    x = np.random.rand(1024, 4096).astype(np.float32); y = np.random.rand(4096, 4096).astype(np.float32)
    x @ y
    t0 = time.perf_counter()
    for _ in range(3):
        x @ y
    gflops = 3 * 2 * 1024 * 4096 * 4096 / (time.perf_counter() - t0) / 1e9
    bf16 = 0.0
    if with_torch:
        snippet = ("import sys, time, torch\n"
                   "torch.set_num_threads(int(sys.argv[1]))\n"
                   "x = torch.rand(1024, 4096, dtype=torch.bfloat16); y = torch.rand(4096, 4096, dtype=torch.bfloat16)\n"
                   "x @ y\n"
                   "t0 = time.perf_counter()\n"
                   "for _ in range(5): x @ y\n"
                   "print(5 * 2 * 1024 * 4096 * 4096 / (time.perf_counter() - t0) / 1e9)\n")
        out = subprocess.run([sys.executable, "-c", snippet, str(threads)], capture_output=True, text=True)
        if out.returncode == 0:
            bf16 = float(out.stdout.strip().splitlines()[-1])
    return read, copy, gflops, bf16


def work_flops(name, prompt_tokens):
    """FLOPs of one image encode and of the prefill (matrix products and attention), from the model's shapes."""
    if "7B" in name:
        n, d, f, layers = 577, 1024, 4096, 23    # CLIP ViT-L/14-336 to its second-to-last layer
        encode = layers * (2 * n * (4 * d * d + 2 * d * f) + 4 * n * n * d) + 2 * 576 * (d * 4096 + 4096 * 4096)
        h, ff, L = 4096, 11008, 32
    else:                                         # SmolLM2-135M: 576 hidden, 9 heads / 3 KV heads of 64, 30 layers
        encode, h, ff, L = 0, 576, 1536, 30
    t = prompt_tokens
    kv = h if "7B" in name else 192
    per_layer = 2 * t * (2 * h * h + 2 * h * kv + 3 * h * ff) + 2 * t * t * h   # causal attention: half of 4 t^2 h
    return encode, L * per_layer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--llava", required=True)
    ap.add_argument("--cache", required=True)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-7b", action="store_true")
    ap.add_argument("--flash-attn", default="on", choices=["on", "off"],
                    help="attention mode of both sides (on: llama.cpp's default on a CPU, and ours)")
    ap.add_argument("--torch", action="store_true")
    ap.add_argument("--workloads", default="smol,q4_0,q8_0,q4_k_m",
                    help="comma-separated subset of smol, q4_0, q8_0, q4_k_m")
    ap.add_argument("--vision-precision", default="bf16", choices=["bf16", "f32"],
                    help="swift-llava's CLIP products: bf16 (oneDNN, as PyTorch bf16 computes) or f32 (llama.cpp's/HF's numbers)")
    args = ap.parse_args()
    cache = args.cache
    bench_dir = os.path.join(cache, "bench-7b")
    smol = os.path.join(cache, "SmolLM2-135M-Instruct.Q4_1.gguf")
    here = os.path.dirname(os.path.abspath(__file__))
    image = os.path.join(cache, "bench-336.png")
    if not os.path.exists(image):
        from PIL import Image
        Image.open(os.path.join(here, "..", "Tests", "Fixtures", "llava-hf", "images", "chelsea.jpg")).convert("RGB").resize((336, 336)).save(image)
    chosen = set(args.workloads.split(","))
    workloads = [("SmolLM2-135M Q4_1", smol, None, 512, 128)] if "smol" in chosen else []
    if not args.skip_7b and chosen & {"q4_0", "q8_0", "q4_k_m"}:
        parts = []
        for p in sorted((chosen & {"q4_0", "q8_0"}) | ({"q8_0"} if "q4_k_m" in chosen else set())):
            if not os.path.exists(os.path.join(bench_dir, f"llava-7b-shaped-{p}.gguf")):
                parts.append(p)
        if not os.path.exists(os.path.join(bench_dir, "mmproj-7b-shaped-f16.gguf")):
            parts.append("mmproj")
        if args.torch and not os.path.exists(os.path.join(bench_dir, "llava-7b-shaped-hf", "model.safetensors")):
            parts.append("hf")
        if parts:
            subprocess.run([args.llava, "init-random", "--output", bench_dir, "--parts", ",".join(parts),
                            "--vocab", os.path.join(cache, "llama.cpp-vocab", "ggml-vocab-llama-spm.gguf"),
                            "--tokenizer", os.path.join(here, "..", "Tests", "Fixtures", "llava-hf", "tiny-gqa-crop")], check=True)
        mm = os.path.join(bench_dir, "mmproj-7b-shaped-f16.gguf")
        q4km = os.path.join(bench_dir, "llava-7b-shaped-q4_k_m.gguf")
        if "q4_k_m" in chosen and not os.path.exists(q4km):
            make_q4_k_m(os.path.join(bench_dir, "llava-7b-shaped-q8_0.gguf"), q4km, args.threads)
        for p in sorted(chosen & {"q4_0", "q8_0", "q4_k_m"}):
            workloads.append((f"LLaVA-7B-shaped {p.upper()}", os.path.join(bench_dir, f"llava-7b-shaped-{p}.gguf"), mm, 32, 32))
    bw, copy_bw, gemm, gemm_bf16 = machine(args.threads, args.torch)
    print(f"machine: {os.cpu_count()} cores; memory read {bw:.1f} GB/s, copy {copy_bw:.1f} GB/s; f32 GEMM {gemm:.0f} GFLOPS "
          f"(numpy/OpenBLAS)" + (f", bf16 GEMM {gemm_bf16:.0f} GFLOPS (PyTorch)" if gemm_bf16 else "") +
          f"; threads {args.threads}; swift-llava vision products in {args.vision_precision}")
    rows = []
    # This machine's memory bandwidth changes over minutes (other tenants): it is measured again before every run,
    # and decode is compared with the most seen.
    reads = [bw]
    for name, model, mmproj, prompt, gen in workloads:
        res = {"swift-llava": [], "llama.cpp": []}
        for _ in range(args.repeats):
            reads.append(read_bandwidth())
            res["swift-llava"].append(swift_bench(args.llava, model, mmproj, image, prompt, gen, args.threads,
                                                  args.vision_precision, args.flash_attn))
            res["llama.cpp"].append(llama_bench(model, mmproj, image, prompt, gen, args.threads, args.flash_attn))
        if args.torch and mmproj and "Q4_0" in name:
            res["pytorch-bf16"] = [torch_bench(os.path.join(bench_dir, "llava-7b-shaped-hf"), prompt, gen, args.threads)
                                   for _ in range(args.repeats)]
        for k, v in res.items():
            print(f"{name} {k}: " + "; ".join(json.dumps({m: round(x, 2) if isinstance(x, float) else x for m, x in r.items()}) for r in v), flush=True)
        med = {k: {metric: (v[0][metric] if metric == "level" else statistics.median(r[metric] for r in v))
                   for metric in v[0]} for k, v in res.items()}
        tokens = prompt + (576 if mmproj else 0)
        rows.append((name, med, os.path.getsize(model) + (os.path.getsize(mmproj) if mmproj else 0), os.path.getsize(model),
                     work_flops(name, tokens), tokens))
    print()
    print(f"{'workload':26s} {'impl':13s} {'encode ms':>10s} {'prefill t/s':>12s} {'decode t/s':>11s} {'peak RSS MB':>12s}"
          f" {'level':>7s}")
    for name, med, size, _, _, _ in rows:
        for impl, m in med.items():
            print(f"{name:26s} {impl:13s} {m['encode_ms']:10.0f} {m['prefill']:12.2f} {m['decode']:11.2f} {m['rss_mb']:12.0f}"
                  f" {m.get('level', ''):>7s}")
    print()
    print("ratios: swift-llava speed / the faster peer (>1 means swift-llava is faster); RSS / files' size")
    bw = max(reads)
    print(f"memory read bandwidth over the run: {min(reads):.1f} to {bw:.1f} GB/s ({len(reads)} measurements)")
    peak = max(gemm, gemm_bf16)
    peak_name = "the bf16 GEMM peak" if peak == gemm_bf16 else "the f32 GEMM peak"
    for name, med, size, lm_size, (encode_flop, prefill_flop), tokens in rows:
        s = med["swift-llava"]
        peers = {k: v for k, v in med.items() if k != "swift-llava"}
        line = f"{name:26s}"
        if s["encode_ms"] > 0:
            best = min(v["encode_ms"] for v in peers.values() if v["encode_ms"] > 0)
            line += f" encode {best / s['encode_ms']:.2f}x"
        line += f" prefill {s['prefill'] / max(v['prefill'] for v in peers.values()):.2f}x"
        line += f" decode {s['decode'] / max(v['decode'] for v in peers.values()):.2f}x"
        line += f" rss/files {s['rss_mb'] * 1048576 / size:.2f}"
        print(line)
        bound = f"{'':26s} bounds:"
        if s["encode_ms"] > 0:
            rate = encode_flop / (s["encode_ms"] / 1000) / 1e9
            bound += f" encode {rate:.0f} GFLOPS = {rate / peak * 100:.0f}% of {peak_name};"
        prefill_rate = prefill_flop * s["prefill"] / tokens / 1e9   # FLOPs over the time `tokens` positions took
        bound += f" prefill {prefill_rate:.0f} GFLOPS = {prefill_rate / peak * 100:.0f}% of {peak_name};"
        bound += f" decode streams {lm_size / 1e9 * s['decode']:.1f} GB/s of weights = {lm_size / 1e9 * s['decode'] / bw * 100:.0f}% of the most read bandwidth seen"
        print(bound)


if __name__ == "__main__":
    main()
