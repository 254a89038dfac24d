#!/usr/bin/env bash
# SmolLLaVA's whole recipe, as the committed adapter was made (2026-12-02, 2 Zen 4 cores, 2 threads): the synthetic
# world, the two stages' data (template Q&A from the ground truth plus fact-checked teacher data), stage 1, stage 2,
# and the packed adapter. Every step is resumable: rerun the same command after a stop. Not run by CI.
#
#   Tools/smol_llava_recipe.sh WORKDIR            # WORKDIR holds the world, the data and the runs (~700 MB)
#
# The teacher data is optional: CURATED=path/to/curated-checked.json uses an existing fact-checked file (the one the
# adapter was trained with is data/smol-llava/curated-checked.json); CURATE=1 runs the teacher (llava serve with
# SmolLM2-135M-Instruct, then llava curate and llava scenes check) first.
set -euo pipefail
W="${1:?usage: $0 WORKDIR}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
B="$ROOT/.build/release/llava"
CACHE="${SWIFT_LLAVA_CACHE:-$HOME/.cache/swift-llava}"
PY="$(command -v python3)"
mkdir -p "$W"
cd "$W"

# 1. The world: 3000 training scenes (seed 1) and 150 held-out ones (seed 2).
[ -s train/scenes.jsonl ] || "$B" scenes generate --count 3000 --seed 1 --output train
[ -s heldout/scenes.jsonl ] || "$B" scenes generate --count 150 --seed 2 --prefix heldout --output heldout

# 2. Stage-1 pairs: every caption phrasing (no noun-phrase filter: the world's phrases are all frequent), then one
#    seeded phrasing for each of the first 800 scenes.
[ -s stage1.json ] || "$B" curate captions --input train/captions.jsonl --output stage1.json --no-filter
"$PY" - <<'EOF'
import json, random
d = json.load(open("stage1.json"))
by = {}
for s in d:
    by.setdefault(s["image"], []).append(s)
rng = random.Random(5)
imgs = sorted(by, key=lambda x: int(x.split("-")[1].split(".")[0]))[:1600]
json.dump([rng.choice(by[i]) for i in imgs][:800], open("stage1-800.json", "w"), indent=1)
EOF

# 3. Template Q&A from the ground truth: with detail and reasoning turns, and factual only.
[ -s qa-all.json ] || "$B" scenes qa --scenes train/scenes.jsonl --output qa-all.json
[ -s qa-factual-all.json ] || "$B" scenes qa --scenes train/scenes.jsonl --output qa-factual-all.json \
    --factual-only --seed 12

# 4. Teacher data: LLaVA's three kinds from captions and boxes, by SmolLM2-135M-Instruct, fact-checked.
if [ "${CURATE:-0}" = 1 ]; then
    "$B" serve --model "$CACHE/SmolLM2-135M-Instruct.Q4_1.gguf" --port 8090 --parallel 2 --model-name smollm2 &
    server=$!
    trap 'kill $server 2>/dev/null || true' EXIT
    sleep 5
    "$B" curate --input train/caps_boxes.jsonl --kinds conversation,detail,complex \
        --endpoint http://127.0.0.1:8090/v1 --model smollm2 --concurrency 2 --limit 600 --seed 3 \
        --temperature 0.7 --max-tokens 400 --output curated
    "$B" scenes check --scenes train/scenes.jsonl \
        --data curated/conversation.json curated/detail.json curated/complex.json \
        --output curated-checked.json --report curated-check-report.json
    CURATED="$W/curated-checked.json"
fi
CURATED="${CURATED:-$ROOT/data/smol-llava/curated-checked.json}"

# 5. Stage 2's mix: 1100 factual conversations, 250 with detail and reasoning turns, the teacher's true samples.
"$PY" - "$CURATED" <<'EOF'
import json, random, sys
fact = json.load(open("qa-factual-all.json"))
full = json.load(open("qa-all.json"))
mix = fact[800:1900] + full[1900:2150] + json.load(open(sys.argv[1]))
random.Random(7).shuffle(mix)
json.dump(mix, open("stage2-mix.json", "w"), indent=1)
EOF

# 6. Stage 1 (projector only), then stage 2 (projector + LoRA r8 on every projection).
R1=""; [ -d run-s1/checkpoint ] && R1="--resume"
[ -s run-s1/model.safetensors ] || "$B" train --stage 1 --model "$CACHE/smol-llava-base" --data stage1-800.json \
    --images train/images --output run-s1 --steps 100 --batch-size 8 --lr 2e-3 --checkpoint-every 25 $R1
R2=""; [ -d run-s2/checkpoint ] && R2="--resume"
[ -s run-s2/adapter/adapter_model.safetensors ] || "$B" train --stage 2 --model run-s1 --data stage2-mix.json \
    --images train/images --output run-s2 --steps 174 --batch-size 8 --lr 1e-3 --projector-lr 1e-3 \
    --warmup-ratio 0.03 --lora-rank 8 --lora-alpha 16 --lora-dropout 0.05 --checkpoint-every 25 --max-length 512 $R2

# 7. The adapter as committed (float16, SHA256SUMS).
"$PY" "$ROOT/Tools/pack_adapter.py" --run run-s2 --output adapter
