#!/usr/bin/env python3
"""Regenerates Tests/Fixtures/training: what PyTorch computes when it trains a tiny llava-hf model the LLaVA way.

Run by hand in a venv outside the repo (never by CI), after Tools/make_llava_fixtures.py:
    ~/venv-ref/bin/pip install torch transformers safetensors pillow peft
    ~/venv-ref/bin/python Tools/make_training_fixtures.py

The model is Tests/Fixtures/llava-hf/tiny-gqa-crop (GQA, untied head, 16 image tokens). The data are
Tests/Fixtures/training/{captions,instruct}.json over the images in Tests/Fixtures/llava-hf/images.

For each case (stage 1; stage 2 full; stage 2 LoRA) it writes, into Tests/Fixtures/training/<case>.safetensors:
  sample.<i>.input_ids / sample.<i>.labels   the token ids (image token expanded) and LLaVA's masked labels
  loss                                       the loss of each of the 3 optimiser steps
  lr                                         the learning rate each step used (HF's schedule)
  grad.<name>                                the gradient of every trained tensor at step 1 (before clipping)
  final.<name>                               every trained tensor after 3 AdamW steps
  init.<name>                                LoRA only: the adapters' starting values (B is random, not zero,
                                             so that A's gradient is not zero at step 1)

The masking is LLaVA's own algorithm (llava/train/train.py: preprocess_plain for stage 1, preprocess_v1 for stage 2
with the vicuna_v1 conversation), re-implemented here on the HF tokenizer; the loss is the mean cross-entropy over the
unmasked tokens of each micro-batch, micro-batch losses averaged over gradient accumulation (the HF Trainer's way);
AdamW is torch.optim.AdamW with weight decay off for biases and norm weights; the schedule is
transformers' get_cosine_schedule_with_warmup / get_constant_schedule_with_warmup.
"""
import json
import math
import os

import torch
from PIL import Image
from safetensors.torch import save_file
from transformers import (LlavaForConditionalGeneration, PreTrainedTokenizerFast,
                          get_constant_schedule_with_warmup, get_cosine_schedule_with_warmup)
from transformers.models.llava.image_processing_pil_llava import LlavaImageProcessorPil

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "Tests", "Fixtures")
MODEL = os.path.join(FIX, "llava-hf", "tiny-gqa-crop")
IMAGES = os.path.join(FIX, "llava-hf", "images")
OUT = os.path.join(FIX, "training")
IGNORE = -100
SYSTEM = ("A chat between a curious user and an artificial intelligence assistant. "
          "The assistant gives helpful, detailed, and polite answers to the user's questions.")

CAPTIONS = [
    {"id": "c0", "image": "chelsea.jpg", "conversations": [
        {"from": "human", "value": "Describe the image briefly.\n<image>"},
        {"from": "gpt", "value": "A cat is sitting on a wooden table."}]},
    {"id": "c1", "image": "astronaut.png", "conversations": [
        {"from": "human", "value": "<image>\nWhat is this?"},
        {"from": "gpt", "value": "The astronaut smiles in front of the flag."}]},
    {"id": "c2", "image": "rocket-444.jpg", "conversations": [
        {"from": "human", "value": "<image>\nGive a short caption."},
        {"from": "gpt", "value": "The rocket stands on the launch pad."}]},
    {"id": "c3", "image": "camera-gray.png", "conversations": [
        {"from": "human", "value": "<image>\nSummarize the picture."},
        {"from": "gpt", "value": "A person with a camera near the river bank."}]},
]

INSTRUCT = [
    {"id": "i0", "image": "chelsea.jpg", "conversations": [
        {"from": "human", "value": "<image>\nWhat is shown in this picture?"},
        {"from": "gpt", "value": "A cat is sitting on a wooden table."},
        {"from": "human", "value": "Why is the sky blue?"},
        {"from": "gpt", "value": "Because of Rayleigh scattering."}]},
    {"id": "i1", "image": "astronaut.png", "conversations": [
        {"from": "human", "value": "Describe the image in detail.\n<image>"},
        {"from": "gpt", "value": "The astronaut smiles in front of the flag."}]},
    {"id": "i2", "conversations": [
        {"from": "human", "value": "Tell me about the fox."},
        {"from": "gpt", "value": "The quick brown fox jumps over the lazy dog."}]},
    {"id": "i3", "image": "rocket-444.jpg", "conversations": [
        {"from": "human", "value": "<image>\nWhat is shown?"},
        {"from": "gpt", "value": "The rocket stands on the launch pad near the river bank. There are 3 people and 12 apples "
                                 "in the sky, and the quick brown fox jumps over the lazy dog."}]},
]

CASES = [
    # name, stage, data, options (the same options the Swift test passes to the trainer)
    ("stage1", 1, CAPTIONS, dict(batch=2, accum=1, lr=1e-2, schedule="cosine", warmup_ratio=0.34, weight_decay=0.1,
                                  max_grad_norm=1.0, max_length=64, lora=None, projector_lr=None)),
    ("stage2-full", 2, INSTRUCT, dict(batch=2, accum=2, lr=5e-3, schedule="cosine", warmup_ratio=0.0, weight_decay=0.05,
                                       max_grad_norm=1.0, max_length=160, lora=None, projector_lr=None, eps=1e-5)),
    ("stage2-lora", 2, INSTRUCT, dict(batch=2, accum=1, lr=1e-2, schedule="constant", warmup_ratio=0.34,
                                       weight_decay=0.0, max_grad_norm=0.5, max_length=160, lora=(4, 8.0),
                                       projector_lr=2e-3)),
]
STEPS = 3


def hub_name(k):
    if k.startswith("base_model.model."):
        k = k[len("base_model.model."):]
    if k.startswith("model.language_model."):
        return "language_model.model." + k[len("model.language_model."):]
    if k.startswith("lm_head."):
        return "language_model." + k
    if k.startswith("model.multi_modal_projector."):
        return k[len("model."):]
    return k


class Tok:
    def __init__(self, folder):
        self.t = PreTrainedTokenizerFast(tokenizer_file=os.path.join(folder, "tokenizer.json"), bos_token="<s>",
                                         eos_token="</s>", unk_token="<unk>", pad_token="<pad>")
        cfg = json.load(open(os.path.join(folder, "tokenizer_config.json")))
        self.legacy = cfg.get("legacy", True)

    def ids(self, text):
        return self.t(text)["input_ids"]

    def with_image(self, text, image_id):
        """LLaVA's tokenizer_image_token: chunks around <image> tokenized apart, one BOS, one image id per marker."""
        chunks = [self.ids(c) for c in text.split("<image>")]
        out = list(chunks[0])
        for c in chunks[1:]:
            out.append(image_id)
            out.extend(c[1:])
        return out


def labels_plain(sample, tok, image_id):
    caption = sample["conversations"][1]["value"]
    ids = tok.with_image("<image>" + caption + "\n", image_id)
    target = list(ids)
    n = len(tok.with_image("<image>", image_id))
    target[:n] = [IGNORE] * n
    return ids, target


def labels_v1(sample, tok, image_id):
    has_image = "image" in sample
    prompt = SYSTEM + " "
    for i, turn in enumerate(sample["conversations"]):
        value = turn["value"]
        if has_image and i == 0:
            value = "<image>\n" + value.replace("<image>", "").strip()
        role = "USER" if turn["from"] == "human" else "ASSISTANT"
        prompt += role + ": " + value + (" " if i % 2 == 0 else "</s>")
    enc = (lambda s: tok.with_image(s, image_id)) if has_image else tok.ids
    ids = enc(prompt)
    target = list(ids)
    total = len(ids)
    cur = 1
    target[:cur] = [IGNORE]
    sep = " ASSISTANT: "
    for i, rou in enumerate(prompt.split("</s>")):
        if rou == "":
            break
        parts = rou.split(sep)
        if len(parts) != 2:
            break
        parts[0] += sep
        round_len = len(enc(rou))
        instruction_len = len(enc(parts[0])) - 2
        if i != 0 and not tok.legacy:
            round_len -= 1
            instruction_len -= 1
        target[cur:cur + instruction_len] = [IGNORE] * len(target[cur:cur + instruction_len])
        cur += round_len
    target[cur:] = [IGNORE] * len(target[cur:])
    if cur != total:
        target = [IGNORE] * total
    return ids, target


def expand(ids, labels, image_id, n_image, max_length):
    out_ids, out_labels = [], []
    for i, l in zip(ids, labels):
        if i == image_id:
            out_ids += [image_id] * n_image
            out_labels += [IGNORE] * n_image
        else:
            out_ids.append(i)
            out_labels.append(l)
    return out_ids[:max_length], out_labels[:max_length]


def main():
    os.makedirs(OUT, exist_ok=True)
    json.dump(CAPTIONS, open(os.path.join(OUT, "captions.json"), "w"), indent=1)
    json.dump(INSTRUCT, open(os.path.join(OUT, "instruct.json"), "w"), indent=1)
    config = json.load(open(os.path.join(MODEL, "config.json")))
    improc_cfg = json.load(open(os.path.join(MODEL, "preprocessor_config.json")))
    image_id = config["image_token_index"]
    size = config["vision_config"]["image_size"] // config["vision_config"]["patch_size"]
    n_image = size * size
    tok = Tok(MODEL)
    proc = LlavaImageProcessorPil(size=improc_cfg["size"], crop_size=improc_cfg["crop_size"], do_pad=improc_cfg.get("do_pad", False))
    torch.set_num_threads(1)

    for name, stage, data, o in CASES:
        torch.manual_seed(7)
        model = LlavaForConditionalGeneration.from_pretrained(MODEL, dtype=torch.float32)
        model.train()   # no dropout in these configs; train mode as a trainer runs it
        for p in model.parameters():
            p.requires_grad_(False)
        records = {}
        if o["lora"]:
            from peft import LoraConfig, get_peft_model
            r, alpha = o["lora"]
            lcfg = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=0.0, bias="none",
                              target_modules=r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)")
            model = get_peft_model(model, lcfg)
            with torch.no_grad():
                for n, p in model.named_parameters():
                    if "lora_B" in n:
                        p.normal_(0, 0.05)
            for n, p in model.named_parameters():
                if "lora_" in n or "multi_modal_projector" in n:
                    p.requires_grad_(True)
                else:
                    p.requires_grad_(False)
        else:
            for n, p in model.named_parameters():
                if "multi_modal_projector" in n or (stage == 2 and "vision_tower" not in n):
                    p.requires_grad_(True)
        trained = [(hub_name(n), p) for n, p in model.named_parameters() if p.requires_grad]
        if o["lora"]:
            for n, p in trained:
                if "lora_" in n:
                    records["init." + n.replace(".default", "")] = p.detach().clone()

        def is_decay(n):
            return not (n.endswith(".bias") or "norm" in n)
        groups = []
        for proj in (False, True):
            for decay in (True, False):
                ps = [p for n, p in trained if ("multi_modal_projector" in n) == proj and is_decay(n) == decay]
                if ps:
                    g = {"params": ps, "weight_decay": o["weight_decay"] if decay else 0.0}
                    if proj and o["projector_lr"]:
                        g["lr"] = o["projector_lr"]
                    groups.append(g)
        opt = torch.optim.AdamW(groups, lr=o["lr"], betas=(0.9, 0.999), eps=o.get("eps", 1e-8))
        warm = math.ceil(STEPS * o["warmup_ratio"])
        sched = (get_cosine_schedule_with_warmup(opt, warm, STEPS) if o["schedule"] == "cosine"
                 else get_constant_schedule_with_warmup(opt, warm))

        samples = []
        for i, s in enumerate(data):
            ids, labels = (labels_plain if stage == 1 else labels_v1)(s, tok, image_id)
            ids, labels = expand(ids, labels, image_id, n_image, o["max_length"])
            pv = None
            if "image" in s:
                img = Image.open(os.path.join(IMAGES, s["image"]))
                pv = proc(images=[img], return_tensors="pt")["pixel_values"].float()
            records[f"sample.{i}.input_ids"] = torch.tensor(ids, dtype=torch.int64)
            records[f"sample.{i}.labels"] = torch.tensor(labels, dtype=torch.int64)
            samples.append((ids, labels, pv))

        order = list(range(len(samples)))   # --no-shuffle: the file's order, epoch after epoch
        cursor = 0
        losses, lrs = [], []
        for step in range(STEPS):
            opt.zero_grad()
            step_loss = 0.0
            lrs.append(opt.param_groups[0]["lr"])
            for _ in range(o["accum"]):
                batch = []
                for _ in range(o["batch"]):
                    batch.append(samples[order[cursor % len(order)]])
                    cursor += 1
                total = sum(sum(1 for l in lab[1:] if l != IGNORE) for _, lab, _ in batch)
                loss = 0.0
                for ids, lab, pv in batch:
                    out = model(input_ids=torch.tensor([ids]), pixel_values=pv)
                    logits = out.logits[0, :-1]
                    tgt = torch.tensor(lab[1:])
                    loss = loss + torch.nn.functional.cross_entropy(logits, tgt, ignore_index=IGNORE, reduction="sum")
                loss = loss / total
                (loss / o["accum"]).backward()
                step_loss += loss.item() / o["accum"]
            if step == 0:
                for n, p in trained:
                    records["grad." + n.replace(".default", "")] = p.grad.detach().clone()
            torch.nn.utils.clip_grad_norm_([p for _, p in trained], o["max_grad_norm"])
            opt.step()
            sched.step()
            losses.append(step_loss)
        for n, p in trained:
            records["final." + n.replace(".default", "")] = p.detach().clone()
        records["loss"] = torch.tensor(losses, dtype=torch.float64)
        records["lr"] = torch.tensor(lrs, dtype=torch.float64)
        records = {k: v.contiguous() for k, v in records.items()}
        save_file(records, os.path.join(OUT, name + ".safetensors"),
                  metadata={"options": json.dumps(o), "stage": str(stage), "steps": str(STEPS)})
        print(name, "losses", [round(x, 5) for x in losses], "lrs", lrs, "trained tensors", len(trained),
              "lengths", [len(s[0]) for s in samples],
              "labelled", [sum(1 for l in s[1] if l != IGNORE) for s in samples])


if __name__ == "__main__":
    main()
