#!/usr/bin/env python3
"""Training speed: `llava train` vs PyTorch (HF transformers on CPU, float32) on the same model, data and threads.

Driven by Benchmarks/compare-training. For each config it writes a seeded random llava-hf model (transformers'
own initialisation; a 32000-token vocabulary so the output head costs what it does in LLaVA) and a data set of
LLaVA-Instruct samples over the fixture images, then runs, alternating, `llava train` and a PyTorch loop that does
what LLaVA's trainer does per step (image features from the frozen tower, projector, language model, masked
cross-entropy, backward, clipping, AdamW). Each run's figure is the median training tokens/s over its steps after
the first; the reported figure is the median over --repeats runs. Both sides cache the frozen tower's features per
image (PyTorch computes them once before the loop), so the comparison is of the training itself.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "Tools"))
import make_training_fixtures as ref  # noqa: E402  (LLaVA's masking on the HF tokenizer)

FIX = os.path.join(HERE, "..", "Tests", "Fixtures")
TINY = os.path.join(FIX, "llava-hf", "tiny-gqa-crop")
IMAGES = os.path.join(FIX, "llava-hf", "images")

CONFIGS = {
    # name: text (hidden, layers, heads, kv heads, ffn, vocab), vision (hidden, layers, image, patch), stage, lora
    "tiny-full": dict(text=None, stage=2, lora=None),
    "small-stage1": dict(text=(512, 8, 8, 4, 1408, 32000), vision=(256, 4, 224, 28), stage=1, lora=None),
    "small-full": dict(text=(512, 8, 8, 4, 1408, 32000), vision=(256, 4, 224, 28), stage=2, lora=None),
    "small-lora": dict(text=(512, 8, 8, 4, 1408, 32000), vision=(256, 4, 224, 28), stage=2, lora=(16, 32.0)),
}


def make_model(folder, text, vision):
    """A random llava-hf folder with the tiny fixture's tokenizer and processor files, text and vision resized."""
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration
    from safetensors.torch import save_file
    if os.path.exists(os.path.join(folder, "model.safetensors")):
        return
    os.makedirs(folder, exist_ok=True)
    for f in os.listdir(TINY):
        if not f.endswith(".safetensors"):
            shutil.copy(os.path.join(TINY, f), folder)
    hidden, layers, heads, kv, ffn, vocab = text
    vh, vl, size, patch = vision
    cfg = json.load(open(os.path.join(TINY, "config.json")))
    image_token = vocab - 2
    torch.manual_seed(0)
    vc = CLIPVisionConfig(hidden_size=vh, intermediate_size=4 * vh, num_hidden_layers=vl, num_attention_heads=vh // 64,
                          image_size=size, patch_size=patch, hidden_act="quick_gelu", projection_dim=vh)
    tc = LlamaConfig(vocab_size=vocab, hidden_size=hidden, intermediate_size=ffn, num_hidden_layers=layers,
                     num_attention_heads=heads, num_key_value_heads=kv, max_position_embeddings=2048, rms_norm_eps=1e-6,
                     bos_token_id=1, eos_token_id=2, pad_token_id=vocab - 1)
    model = LlavaForConditionalGeneration(LlavaConfig(vision_config=vc, text_config=tc, image_token_index=image_token,
                                                      vision_feature_layer=-2, projector_hidden_act="gelu"))
    from make_llava_fixtures import hub_names
    sd = hub_names(model.state_dict())
    save_file(sd, os.path.join(folder, "model.safetensors"), metadata={"format": "pt"})
    cfg["image_token_index"] = image_token
    cfg["pad_token_id"] = vocab - 1
    cfg["text_config"].update(vocab_size=vocab, hidden_size=hidden, intermediate_size=ffn, num_hidden_layers=layers,
                              num_attention_heads=heads, num_key_value_heads=kv, max_position_embeddings=2048)
    cfg["vision_config"].update(hidden_size=vh, intermediate_size=4 * vh, num_hidden_layers=vl,
                                num_attention_heads=vh // 64, image_size=size, patch_size=patch, projection_dim=vh)
    json.dump(cfg, open(os.path.join(folder, "config.json"), "w"), indent=1)
    pre = json.load(open(os.path.join(TINY, "preprocessor_config.json")))
    pre["size"] = {"shortest_edge": size}
    pre["crop_size"] = {"height": size, "width": size}
    json.dump(pre, open(os.path.join(folder, "preprocessor_config.json"), "w"), indent=1)


def make_data(folder, stage):
    """16 samples: the fixture samples repeated with numbered variations (the same text on both sides)."""
    base = ref.CAPTIONS if stage == 1 else ref.INSTRUCT
    out = []
    for i in range(16):
        s = json.loads(json.dumps(base[i % len(base)]))
        s["id"] = f"{s['id']}-{i}"
        s["conversations"][-1]["value"] += f" Sample {i}."
        out.append(s)
    path = os.path.join(folder, f"data-stage{stage}.json")
    json.dump(out, open(path, "w"), indent=1)
    return path, out


def run_swift(llava, model, data, stage, lora, steps, threads, max_length, workdir):
    out = os.path.join(workdir, "swift-out")
    shutil.rmtree(out, ignore_errors=True)
    cmd = [llava, "train", "--stage", str(stage), "--model", model, "--data", data, "--images", IMAGES, "--output", out,
           "--steps", str(steps), "--batch-size", "2", "--lr", "1e-4", "--no-shuffle", "--threads", str(threads),
           "--max-length", str(max_length), "--warmup-ratio", "0"]
    if lora:
        cmd += ["--lora-rank", str(lora[0]), "--lora-alpha", str(lora[1]), "--lora-dropout", "0"]
    subprocess.run(cmd, check=True, capture_output=True)
    recs = [json.loads(l) for l in open(os.path.join(out, "log.jsonl"))]
    return statistics.median(r["tokens_per_s"] for r in recs[1:])


def run_torch(model_dir, samples, stage, lora, steps, threads, max_length):
    from transformers import LlavaForConditionalGeneration
    from transformers.models.llava.image_processing_pil_llava import LlavaImageProcessorPil
    from PIL import Image
    torch.set_num_threads(threads)
    model = LlavaForConditionalGeneration.from_pretrained(model_dir, dtype=torch.float32)
    model.train()
    for p in model.parameters():
        p.requires_grad_(False)
    if lora:
        from peft import LoraConfig, get_peft_model
        model = get_peft_model(model, LoraConfig(r=lora[0], lora_alpha=lora[1], lora_dropout=0.0, target_modules=
                               r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"))
    inner = model.base_model.model if lora else model
    for n, p in model.named_parameters():
        if "multi_modal_projector" in n or "lora_" in n or (stage == 2 and not lora and "vision_tower" not in n):
            p.requires_grad_(True)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    pre = json.load(open(os.path.join(model_dir, "preprocessor_config.json")))
    proc = LlavaImageProcessorPil(size=pre["size"], crop_size=pre["crop_size"], do_pad=pre.get("do_pad", False))
    tok = ref.Tok(model_dir)
    image_id = cfg["image_token_index"]
    n_image = (cfg["vision_config"]["image_size"] // cfg["vision_config"]["patch_size"]) ** 2
    # Frozen tower: selected features once per image, as our feature cache does.
    feats = {}
    data = []
    with torch.no_grad():
        for s in samples:
            ids, labels = (ref.labels_plain if stage == 1 else ref.labels_v1)(s, tok, image_id)
            ids, labels = ref.expand(ids, labels, image_id, n_image, max_length)
            f = None
            if "image" in s:
                if s["image"] not in feats:
                    pv = proc(images=[Image.open(os.path.join(IMAGES, s["image"]))], return_tensors="pt")["pixel_values"]
                    hs = inner.model.vision_tower(pv, output_hidden_states=True).hidden_states[-2][:, 1:]
                    feats[s["image"]] = hs[0]
                f = feats[s["image"]]
            data.append((torch.tensor(ids), torch.tensor(labels), f))
    lm, head, proj = inner.model.language_model, inner.lm_head, inner.model.multi_modal_projector
    embed = lm.get_input_embeddings()
    rates = []
    cursor = 0
    for step in range(steps):
        t0 = time.perf_counter()
        opt.zero_grad()
        batch = [data[(cursor + i) % len(data)] for i in range(2)]
        cursor += 2
        total = sum(int((lab[1:] != -100).sum()) for _, lab, _ in batch)
        loss = 0.0
        tokens = 0
        for ids, lab, f in batch:
            x = embed(torch.where(ids == image_id, torch.zeros_like(ids), ids))
            if f is not None:
                x = x.clone()
                x[ids == image_id] = proj(f)
            h = lm(inputs_embeds=x[None]).last_hidden_state[0]
            logits = head(h)
            loss = loss + torch.nn.functional.cross_entropy(logits[:-1], lab[1:], ignore_index=-100, reduction="sum")
            tokens += len(ids)
        (loss / total).backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        dt = time.perf_counter() - t0
        if step > 0:
            rates.append(tokens / dt)
    return statistics.median(rates)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--llava", required=True)
    ap.add_argument("--cache", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--configs", default=",".join(CONFIGS))
    args = ap.parse_args()
    work = os.path.join(args.cache, "train-bench")
    os.makedirs(work, exist_ok=True)
    rows = []
    for name in args.configs.split(","):
        c = CONFIGS[name]
        if c["text"] is None:
            model = TINY
        else:
            model = os.path.join(work, "model-" + "x".join(map(str, c["text"] + c["vision"])))
            make_model(model, c["text"], c["vision"])
        data_path, samples = make_data(work, c["stage"])
        max_length = 256
        swift, torch_rates = [], []
        for _ in range(args.repeats):
            swift.append(run_swift(args.llava, model, data_path, c["stage"], c["lora"], args.steps, args.threads, max_length, work))
            torch_rates.append(run_torch(model, samples, c["stage"], c["lora"], args.steps, args.threads, max_length))
        s, t = statistics.median(swift), statistics.median(torch_rates)
        rows.append((name, s, t))
        print(f"{name:14s} swift-llava {s:9.0f} tok/s   PyTorch {t:9.0f} tok/s   ratio {s / t:5.2f}x   "
              f"(runs: swift {[round(x) for x in swift]}, torch {[round(x) for x in torch_rates]})", flush=True)
    print(f"\nthreads {args.threads}, torch {torch.__version__}, {args.steps} steps of 2 samples, median of {args.repeats} runs")
    print("ratios (swift-llava / PyTorch training tokens/s): " + ", ".join(f"{n} {s / t:.2f}x" for n, s, t in rows))


if __name__ == "__main__":
    main()
