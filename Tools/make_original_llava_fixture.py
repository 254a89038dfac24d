#!/usr/bin/env python3
"""Regenerates Tests/Fixtures/original-llava: a tiny checkpoint in the original LLaVA release layout
(liuhaotian/llava-v1.5-7b style) and the numbers it must give.

Run by hand in a venv outside the repo (never by CI), after Tools/make_llava_fixtures.py:
    ~/venv-ref/bin/pip install torch transformers safetensors sentencepiece pillow
    ~/venv-ref/bin/python Tools/make_original_llava_fixture.py

The layout: `llava-v1.5-tiny/` holds a LLaMA checkpoint whose config.json carries the `mm_*` keys and whose
weights are `model.*`, `lm_head.weight` and `model.mm_projector.{0,2}.*`, with a SentencePiece `tokenizer.model`;
`clip-vit-tiny/` holds the CLIP vision tower as a CLIPModel folder (`vision_model.*`). The weights are those of
Tests/Fixtures/llava-hf/tiny-gqa-crop (pad mode), so HF transformers' LlavaForConditionalGeneration computes the
reference; the prompt follows LLaVA's rule (conv `llava_v1`, `tokenizer_image_token`: each text chunk tokenised
on its own, BOS on the first only, the image's features between).
"""
import json
import os
import shutil

import numpy as np
import sentencepiece as spm
import torch
from PIL import Image
from safetensors.torch import load_file, save_file
from transformers import LlavaForConditionalGeneration
from transformers.models.llava.image_processing_pil_llava import LlavaImageProcessorPil

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "Tests", "Fixtures")
SRC = os.path.join(FIX, "llava-hf", "tiny-gqa-crop")
OUT = os.path.join(FIX, "original-llava")
SYSTEM = ("A chat between a curious human and an artificial intelligence assistant. "
          "The assistant gives helpful, detailed, and polite answers to the human's questions.")
QUESTION = "What is shown in this picture?"


def train_sentencepiece(path_prefix):
    text = os.path.join(OUT, "train.txt")
    with open(text, "w") as f:
        for _ in range(30):
            f.write("A chat between a curious human and an artificial intelligence assistant.\n")
            f.write("USER: What is shown in this picture? ASSISTANT: A cat sitting on a table.\n")
            f.write("The assistant gives helpful, detailed, and polite answers to the human's questions.\n")
    spm.SentencePieceTrainer.train(input=text, model_prefix=path_prefix, vocab_size=420, model_type="bpe",
                                   byte_fallback=True, character_coverage=1.0, bos_id=1, eos_id=2, unk_id=0,
                                   pad_id=-1, add_dummy_prefix=True, normalization_rule_name="identity",
                                   remove_extra_whitespaces=False, split_digits=True, minloglevel=2)
    os.remove(text)


def main():
    if os.path.exists(OUT):
        shutil.rmtree(OUT)
    lm_dir, clip_dir = os.path.join(OUT, "llava-v1.5-tiny"), os.path.join(OUT, "clip-vit-tiny")
    os.makedirs(lm_dir)
    os.makedirs(clip_dir)
    train_sentencepiece(os.path.join(lm_dir, "tokenizer"))
    os.remove(os.path.join(lm_dir, "tokenizer.vocab"))

    hf_cfg = json.load(open(os.path.join(SRC, "config.json")))
    t, v = hf_cfg["text_config"], hf_cfg["vision_config"]
    sd = load_file(os.path.join(SRC, "model.safetensors"))
    lm, clip = {}, {}
    for k, w in sd.items():
        if k.startswith("language_model.model."):
            lm["model." + k[len("language_model.model."):]] = w
        elif k.startswith("language_model.lm_head."):
            lm["lm_head." + k[len("language_model.lm_head."):]] = w
        elif k.startswith("multi_modal_projector.linear_1."):
            lm["model.mm_projector.0." + k.split(".")[-1]] = w
        elif k.startswith("multi_modal_projector.linear_2."):
            lm["model.mm_projector.2." + k.split(".")[-1]] = w
        elif k.startswith("vision_tower.vision_model."):
            clip["vision_model." + k[len("vision_tower.vision_model."):]] = w
    save_file(lm, os.path.join(lm_dir, "model.safetensors"), metadata={"format": "pt"})
    save_file(clip, os.path.join(clip_dir, "model.safetensors"), metadata={"format": "pt"})
    llava_cfg = {
        "architectures": ["LlavaLlamaForCausalLM"], "model_type": "llava",
        "hidden_size": t["hidden_size"], "intermediate_size": t["intermediate_size"],
        "num_hidden_layers": t["num_hidden_layers"], "num_attention_heads": t["num_attention_heads"],
        "num_key_value_heads": t["num_key_value_heads"], "vocab_size": t["vocab_size"],
        "max_position_embeddings": t["max_position_embeddings"], "rms_norm_eps": t["rms_norm_eps"],
        "rope_theta": t["rope_theta"], "rope_scaling": None, "tie_word_embeddings": False, "hidden_act": "silu",
        "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0, "torch_dtype": "float32",
        "mm_vision_tower": "clip-vit-tiny", "mm_hidden_size": v["hidden_size"], "mm_projector_type": "mlp2x_gelu",
        "mm_vision_select_layer": hf_cfg["vision_feature_layer"], "mm_vision_select_feature": "patch",
        "mm_use_im_start_end": False, "mm_use_im_patch_token": False, "image_aspect_ratio": "pad",
        "mm_patch_merge_type": "flat", "tokenizer_model_max_length": 2048, "use_cache": True,
    }
    json.dump(llava_cfg, open(os.path.join(lm_dir, "config.json"), "w"), indent=1)
    json.dump({"add_bos_token": True, "add_eos_token": False, "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
               "legacy": False, "tokenizer_class": "LlamaTokenizer", "model_max_length": 2048},
              open(os.path.join(lm_dir, "tokenizer_config.json"), "w"), indent=1)
    json.dump({"model_type": "clip", "architectures": ["CLIPModel"], "projection_dim": 32,
               "vision_config": {**v, "model_type": "clip_vision_model"},
               "text_config": {"model_type": "clip_text_model", "hidden_size": 32}},
              open(os.path.join(clip_dir, "config.json"), "w"), indent=1)
    pre = json.load(open(os.path.join(SRC, "preprocessor_config.json")))
    pre["do_pad"] = False   # the original code pads itself (image_aspect_ratio "pad"), the CLIP processor does not
    json.dump(pre, open(os.path.join(clip_dir, "preprocessor_config.json"), "w"), indent=1)

    # Reference: LLaVA's prompt and tokenizer_image_token, HF's model on the same weights.
    sp = spm.SentencePieceProcessor(model_file=os.path.join(lm_dir, "tokenizer.model"))
    prompt = SYSTEM + " USER: <image>\n" + QUESTION + " ASSISTANT:"
    chunks = [sp.encode(c) for c in prompt.split("<image>")]
    model = LlavaForConditionalGeneration.from_pretrained(SRC, dtype=torch.float32).eval()
    n_img = model.config.vision_config.image_size // model.config.vision_config.patch_size
    n_img = n_img * n_img
    ids = [1] + chunks[0] + [-200] * n_img + chunks[1]
    image = Image.open(os.path.join(FIX, "llava-hf", "images", "chelsea.jpg"))
    proc = LlavaImageProcessorPil(size={"shortest_edge": v["image_size"]},
                                  crop_size={"height": v["image_size"], "width": v["image_size"]}, do_pad=True)
    pixels = proc(images=[image], return_tensors="pt")["pixel_values"]
    hf_ids = torch.tensor([[i if i >= 0 else model.config.image_token_index for i in ids]])
    with torch.no_grad():
        out = model(input_ids=hf_ids, pixel_values=pixels)
        gen = model.generate(input_ids=hf_ids, pixel_values=pixels, attention_mask=torch.ones_like(hf_ids),
                             max_new_tokens=16, do_sample=False, eos_token_id=2)
    save_file({"input_ids": torch.tensor(ids, dtype=torch.int64), "pixel_values": pixels.float().contiguous(),
               "logits": out.logits[0].float().contiguous(),
               "greedy": gen[0, hf_ids.shape[1]:].to(torch.int64).contiguous()},
              os.path.join(OUT, "reference.safetensors"), metadata={"prompt": prompt, "question": QUESTION})
    print(len(ids), "ids;", gen[0, hf_ids.shape[1]:].tolist())


if __name__ == "__main__":
    main()
