#!/usr/bin/env python3
"""Regenerates Tests/Fixtures/llava-hf: tiny seeded llava-hf checkpoints and HF transformers' numbers for them.

Run by hand in a venv outside the repo (never by CI):
    python -m venv ~/venv-ref && ~/venv-ref/bin/pip install torch torchvision transformers tokenizers \
        safetensors pillow scikit-image
    ~/venv-ref/bin/python Tools/make_llava_fixtures.py

What it writes, under Tests/Fixtures/llava-hf/:
  images/            small crops of scikit-image's photos in the formats the decoder must handle
  images.safetensors PIL's decode of each image to RGB (uint8 [H, W, 3])
  tokenizer-*/       two SentencePiece-BPE tokenizer.json files (legacy normalizer, Metaspace "first")
  tokenizer-cases.json  text -> ids from HF tokenizers for both
  <model>/           a checkpoint folder (config, weights, tokenizer, processor config, chat template)
  <model>.safetensors  per prompt case: input_ids, pixel_values, image_features, logits, greedy tokens
"""
import json
import os
import shutil
import sys

import numpy as np
import torch
from PIL import Image
from safetensors.numpy import save_file as save_np
from safetensors.torch import save_file as save_torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import (CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration,
                          LlavaProcessor, PreTrainedTokenizerFast)
from transformers.models.llava.image_processing_pil_llava import LlavaImageProcessorPil

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "llava-hf")
LLAVA_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}{% endif %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\n' }}{% endfor %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] + ' '}}{% endfor %}"
    "{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}")

TOKENIZER_CASES = [
    "Hello world",
    "USER: <image>\nWhat is shown in this picture? ASSISTANT:",
    "  two leading spaces and   runs of    spaces  ",
    "tabs\tand\nnewlines\n\n\tmixed",
    "digits 0123456789 and 3.14159, 2026-11-27",
    "unicode: café naïve Ελληνικά русский 日本語 한국어",
    "emoji 😀👍🏽 👨‍👩‍👧 ✨",
    "<s>special</s> tokens <image><image> glued<image>",
    "",
    " ",
    "\n",
    "A cat sat on the mat. The cat is orange!",
]

TRAIN_TEXT = [
    "A cat is sitting on a wooden table next to a cup of coffee.",
    "The astronaut smiles in front of the flag; the rocket stands on the launch pad.",
    "What is shown in this picture? Describe the image in detail.",
    "USER: ASSISTANT: The image shows a person, a camera, a horse and coins.",
    "There are 3 people, 12 apples and 2026 stars in the sky. Numbers: 0 1 2 3 4 5 6 7 8 9.",
    "Why is the sky blue? Because of Rayleigh scattering of sunlight in the atmosphere.",
    "The quick brown fox jumps over the lazy dog near the river bank.",
] * 20


def train_tokenizer(kind):
    """A small LLaMA-style tokenizer: BPE with byte fallback, <unk> <s> </s>, <image> and <pad> added."""
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    trainer = trainers.BpeTrainer(vocab_size=360, special_tokens=["<unk>", "<s>", "</s>"],
                                  initial_alphabet=[], limit_alphabet=60, show_progress=False)
    tok.train_from_iterator(TRAIN_TEXT, trainer)
    data = json.loads(tok.to_str())
    # Byte fallback pieces, as LLaMA's vocabulary has them right after the specials.
    vocab = data["model"]["vocab"]
    base = sorted(vocab.items(), key=lambda kv: kv[1])
    new_vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        new_vocab["<0x%02X>" % b] = len(new_vocab)
    for t, _ in base:
        if t not in new_vocab:
            new_vocab[t] = len(new_vocab)
    data["model"]["vocab"] = new_vocab
    n = len(new_vocab)
    data["added_tokens"] = [
        {"id": 0, "content": "<unk>", "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True},
        {"id": 1, "content": "<s>", "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True},
        {"id": 2, "content": "</s>", "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True},
        {"id": n, "content": "<image>", "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True},
        {"id": n + 1, "content": "<pad>", "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True},
    ]
    data["post_processor"] = {
        "type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
        "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                 {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
        "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}},
    }
    if kind == "legacy":
        # The LLaMA-2 / Vicuna tokenizer.json layout: normalizer does the dummy prefix, no pre-tokenizer.
        data["normalizer"] = {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "▁"},
            {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]}
        data["pre_tokenizer"] = None
        data["decoder"] = {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}
    else:
        # The newer layout: Metaspace with prepend_scheme "first", no split.
        data["normalizer"] = None
        data["pre_tokenizer"] = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": False}
        data["decoder"] = {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}
    return data


def write_tokenizer(folder, data, legacy):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "tokenizer.json"), "w") as f:
        json.dump(data, f, ensure_ascii=False, indent=1)
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
        json.dump({"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>",
                   "add_bos_token": True, "add_eos_token": False, "model_max_length": 4096,
                   "tokenizer_class": "LlamaTokenizer",
                   # the LLaVA masking rule reads it: the "legacy" normalizer prepends ▁ after special tokens too
                   "legacy": legacy}, f, indent=1)


def make_images():
    """Crops of scikit-image's photos, saved in every mode the decoder must turn into RGB as PIL does."""
    import skimage.data as sd
    out = os.path.join(ROOT, "images")
    os.makedirs(out, exist_ok=True)
    chelsea = Image.fromarray(sd.chelsea()).resize((90, 60), Image.LANCZOS)          # landscape
    astronaut = Image.fromarray(sd.astronaut()).crop((100, 0, 300, 300)).resize((40, 60), Image.LANCZOS)  # portrait
    coffee = Image.fromarray(sd.coffee()).resize((64, 43), Image.LANCZOS)
    camera = Image.fromarray(sd.camera()).resize((50, 50), Image.LANCZOS)            # gray, square
    rocket = Image.open(os.path.join(os.path.dirname(sd.__file__), "rocket.jpg")).resize((37, 55), Image.LANCZOS)
    files = {}
    chelsea.save(os.path.join(out, "chelsea.jpg"), quality=90); files["chelsea.jpg"] = "jpeg rgb 4:2:0"
    rocket.save(os.path.join(out, "rocket-444.jpg"), quality=95, subsampling=0); files["rocket-444.jpg"] = "jpeg rgb 4:4:4"
    camera.save(os.path.join(out, "camera-gray.jpg"), quality=90); files["camera-gray.jpg"] = "jpeg gray"
    astronaut.save(os.path.join(out, "astronaut.png")); files["astronaut.png"] = "png rgb"
    rgba = coffee.convert("RGBA")
    a = np.array(rgba); a[..., 3] = np.linspace(0, 255, a.shape[1]).astype(np.uint8)[None, :]
    Image.fromarray(a).save(os.path.join(out, "coffee-rgba.png")); files["coffee-rgba.png"] = "png rgba"
    coffee.convert("P", palette=Image.ADAPTIVE, colors=32).save(os.path.join(out, "coffee-palette.png"))
    files["coffee-palette.png"] = "png palette"
    camera.save(os.path.join(out, "camera-gray.png")); files["camera-gray.png"] = "png gray"
    camera.convert("LA").save(os.path.join(out, "camera-la.png")); files["camera-la.png"] = "png gray+alpha"
    g16 = (np.array(camera).astype(np.uint16) * 3).astype(np.uint16)   # values 0..765: PIL clips to 255
    Image.fromarray(g16).save(os.path.join(out, "camera-16.png")); files["camera-16.png"] = "png gray 16-bit"
    rgb16 = np.array(astronaut).astype(np.uint16) * 257 + 3
    import zlib, struct
    write_png16_rgb(os.path.join(out, "astronaut-16.png"), rgb16); files["astronaut-16.png"] = "png rgb 16-bit"
    chelsea.save(os.path.join(out, "chelsea-interlaced.png"), interlace=1) if False else None
    decoded = {}
    for name in sorted(files):
        im = Image.open(os.path.join(out, name))
        decoded[name] = np.ascontiguousarray(np.array(im.convert("RGB"), dtype=np.uint8))
    save_np(decoded, os.path.join(ROOT, "images.safetensors"))
    return {k: os.path.join(out, k) for k in files}


def write_png16_rgb(path, arr):
    """PIL cannot write 16-bit RGB; write it by hand (one IDAT, filter 0)."""
    import zlib, struct
    h, w, _ = arr.shape
    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(h))
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    open(path, "wb").write(png)


# name, tokenizer kind, spelling, vision (image, patch, layers, act, feature layer, strategy),
# text (hidden, heads, kv heads, head_dim, layers, tied, theta), pad, dtype
CONFIGS = [
    dict(name="tiny-gqa-crop", tokenizer="legacy", spelling="hub", image=32, patch=8, vlayers=3, vact="quick_gelu",
         feature_layer=-2, strategy="default", hidden=64, heads=4, kv_heads=2, head_dim=None, layers=2, tied=False,
         theta=10000.0, pad=False, dtype="float32", proj_act="gelu"),
    dict(name="tiny-mha-pad-full", tokenizer="first", spelling="new", image=48, patch=8, vlayers=2, vact="gelu",
         feature_layer=-1, strategy="full", hidden=48, heads=3, kv_heads=3, head_dim=None, layers=3, tied=True,
         theta=500000.0, pad=True, dtype="float32", proj_act="gelu"),
    dict(name="tiny-bf16-sharded", tokenizer="legacy", spelling="hub-sharded", image=28, patch=7, vlayers=2,
         vact="quick_gelu", feature_layer=-2, strategy="default", hidden=64, heads=2, kv_heads=1, head_dim=24,
         layers=2, tied=False, theta=10000.0, pad=True, dtype="bfloat16", proj_act="gelu"),
]

PROMPTS = [
    ("one-image", "USER: <image>\nWhat is shown in this picture? ASSISTANT:", ["chelsea.jpg"]),
    ("two-images", "USER: <image>\n<image>\nCompare the two pictures. ASSISTANT:", ["astronaut.png", "camera-gray.png"]),
    ("text-only", "USER: Tell me a story about a cat. ASSISTANT:", []),
]


def hub_names(sd):
    """transformers 5 names -> the llava-hf hub names (language_model.model.*, vision_tower.vision_model.*)."""
    out = {}
    for k, v in sd.items():
        if k.startswith("model.language_model."):
            k = "language_model.model." + k[len("model.language_model."):]
        elif k.startswith("lm_head."):
            k = "language_model." + k
        elif k.startswith("model.vision_tower."):
            rest = k[len("model.vision_tower."):]
            k = "vision_tower." + (rest if rest.startswith("vision_model.") else "vision_model." + rest)
        elif k.startswith("model.multi_modal_projector."):
            k = k[len("model."):]
        out[k] = v.contiguous()
    return out


def build(cfg, tok_data, images):
    torch.manual_seed(1234)
    folder = os.path.join(ROOT, cfg["name"])
    if os.path.exists(folder):
        shutil.rmtree(folder)
    write_tokenizer(folder, tok_data, cfg["tokenizer"] == "legacy")
    n_vocab = len(tok_data["model"]["vocab"]) + 2
    image_token = len(tok_data["model"]["vocab"])
    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=cfg["vlayers"],
                              num_attention_heads=2, image_size=cfg["image"], patch_size=cfg["patch"],
                              hidden_act=cfg["vact"], projection_dim=32, layer_norm_eps=1e-5)
    text_kwargs = dict(vocab_size=n_vocab, hidden_size=cfg["hidden"], intermediate_size=cfg["hidden"] * 2 + 8,
                       num_hidden_layers=cfg["layers"], num_attention_heads=cfg["heads"],
                       num_key_value_heads=cfg["kv_heads"], max_position_embeddings=256, rms_norm_eps=1e-6,
                       tie_word_embeddings=cfg["tied"], bos_token_id=1, eos_token_id=2, pad_token_id=n_vocab - 1,
                       initializer_range=0.15, rope_parameters={"rope_type": "default", "rope_theta": cfg["theta"]})
    if cfg["head_dim"]:
        text_kwargs["head_dim"] = cfg["head_dim"]
    text = LlamaConfig(**text_kwargs)
    config = LlavaConfig(vision_config=vision, text_config=text, image_token_index=image_token,
                         vision_feature_layer=cfg["feature_layer"], vision_feature_select_strategy=cfg["strategy"],
                         projector_hidden_act=cfg["proj_act"], tie_word_embeddings=cfg["tied"])
    model = LlavaForConditionalGeneration(config).eval()
    with torch.no_grad():  # larger vision weights, so image features matter to the logits
        for n, p in model.named_parameters():
            if "vision_tower" in n and p.dim() == 2:
                p.normal_(0, 0.08)
            if "norm" in n and p.dim() == 1 and "weight" in n:
                p.uniform_(0.7, 1.3)
    if cfg["dtype"] == "bfloat16":
        with torch.no_grad():  # the numbers the bf16 file holds, computed in f32 (buffers such as inv_freq stay f32)
            for p in model.parameters():
                p.copy_(p.to(torch.bfloat16).to(torch.float32))

    size = {"shortest_edge": cfg["image"]}
    proc_kwargs = dict(size=size, crop_size={"height": cfg["image"], "width": cfg["image"]}, do_pad=cfg["pad"])
    image_processor = LlavaImageProcessorPil(**proc_kwargs)
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=os.path.join(folder, "tokenizer.json"), bos_token="<s>",
                                        eos_token="</s>", unk_token="<unk>", pad_token="<pad>")
    processor = LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=cfg["patch"],
                               vision_feature_select_strategy=cfg["strategy"], num_additional_image_tokens=1,
                               image_token="<image>", chat_template=LLAVA_TEMPLATE)

    # Weights and configs, in the spelling this fixture stands for.
    sd = model.state_dict()
    if cfg["tied"]:
        sd = {k: v for k, v in sd.items() if k != "lm_head.weight"}
    dtype = torch.bfloat16 if cfg["dtype"] == "bfloat16" else torch.float32
    sd = {k: v.to(dtype).contiguous() for k, v in sd.items()}
    mean = [0.48145466, 0.4578275, 0.40821073]
    std = [0.26862954, 0.26130258, 0.27577711]
    improc = {"crop_size": {"height": cfg["image"], "width": cfg["image"]}, "do_center_crop": True,
              "do_convert_rgb": True, "do_normalize": True, "do_rescale": True, "do_resize": True,
              "do_pad": cfg["pad"], "image_mean": mean, "image_std": std, "resample": 3,
              "rescale_factor": 0.00392156862745098, "size": size}
    if cfg["spelling"].startswith("hub"):
        sd = hub_names(sd)
        cfg_json = {
            "architectures": ["LlavaForConditionalGeneration"], "model_type": "llava",
            "ignore_index": -100, "image_token_index": image_token, "pad_token_id": n_vocab - 1,
            "projector_hidden_act": cfg["proj_act"], "tie_word_embeddings": cfg["tied"],
            "torch_dtype": cfg["dtype"], "transformers_version": "4.36.0.dev0",
            "vision_feature_layer": cfg["feature_layer"], "vision_feature_select_strategy": cfg["strategy"],
            "text_config": {"model_type": "llama", "vocab_size": n_vocab, "hidden_size": cfg["hidden"],
                            "intermediate_size": cfg["hidden"] * 2 + 8, "num_hidden_layers": cfg["layers"],
                            "num_attention_heads": cfg["heads"], "num_key_value_heads": cfg["kv_heads"],
                            "max_position_embeddings": 256, "rms_norm_eps": 1e-6, "rope_theta": cfg["theta"],
                            "rope_scaling": None, "torch_dtype": cfg["dtype"], "tie_word_embeddings": cfg["tied"],
                            "architectures": ["LlamaForCausalLM"], "bos_token_id": 1, "eos_token_id": 2,
                            **({"head_dim": cfg["head_dim"]} if cfg["head_dim"] else {})},
            "vision_config": {"model_type": "clip_vision_model", "hidden_size": 32, "intermediate_size": 64,
                              "num_hidden_layers": cfg["vlayers"], "num_attention_heads": 2,
                              "image_size": cfg["image"], "patch_size": cfg["patch"], "hidden_act": cfg["vact"],
                              "projection_dim": 32, "layer_norm_eps": 1e-5},
        }
        json.dump(cfg_json, open(os.path.join(folder, "config.json"), "w"), indent=1)
        json.dump({**improc, "image_processor_type": "CLIPImageProcessor", "feature_extractor_type": "CLIPFeatureExtractor"},
                  open(os.path.join(folder, "preprocessor_config.json"), "w"), indent=1)
        json.dump({"chat_template": LLAVA_TEMPLATE}, open(os.path.join(folder, "chat_template.json"), "w"), indent=1)
        if cfg["spelling"] == "hub-sharded":
            names = sorted(sd)
            half = len(names) // 2
            shards = {"model-00001-of-00002.safetensors": names[:half], "model-00002-of-00002.safetensors": names[half:]}
            weight_map = {}
            for fname, keys in shards.items():
                save_torch({k: sd[k] for k in keys}, os.path.join(folder, fname), metadata={"format": "pt"})
                weight_map.update({k: fname for k in keys})
            json.dump({"metadata": {"total_size": sum(v.numel() * v.element_size() for v in sd.values())},
                       "weight_map": weight_map}, open(os.path.join(folder, "model.safetensors.index.json"), "w"), indent=1)
        else:
            save_torch(sd, os.path.join(folder, "model.safetensors"), metadata={"format": "pt"})
    else:
        model.config.dtype = cfg["dtype"]
        model.save_pretrained(folder)
        processor.save_pretrained(folder)
        if os.path.exists(os.path.join(folder, "preprocessor_config.json")):
            os.remove(os.path.join(folder, "preprocessor_config.json"))

    # Check that transformers reads back what we wrote, number for number.
    reloaded = LlavaForConditionalGeneration.from_pretrained(folder, dtype=torch.float32).eval()

    records = {}
    for case, prompt, names in PROMPTS:
        imgs = [Image.open(images[n]) for n in names]
        inputs = processor(images=imgs or None, text=prompt, return_tensors="pt")
        with torch.no_grad():
            out = model(**inputs)
            out2 = reloaded(**inputs)
            assert torch.allclose(out.logits, out2.logits, atol=1e-5), "reload mismatch " + cfg["name"]
            gen = model.generate(**inputs, max_new_tokens=16, do_sample=False)
        records[f"{case}.input_ids"] = inputs["input_ids"][0].to(torch.int64)
        records[f"{case}.logits"] = out.logits[0].float()
        records[f"{case}.greedy"] = gen[0, inputs["input_ids"].shape[1]:].to(torch.int64)
        if imgs:
            pv = inputs["pixel_values"].float()
            records[f"{case}.pixel_values"] = pv
            with torch.no_grad():
                feats = model.model.get_image_features(pixel_values=pv, vision_feature_layer=cfg["feature_layer"],
                                                       vision_feature_select_strategy=cfg["strategy"])
            if hasattr(feats, "pooler_output"):
                feats = feats.pooler_output
            if isinstance(feats, (list, tuple)):
                feats = torch.cat(list(feats), dim=0)
            records[f"{case}.image_features"] = feats.reshape(-1, feats.shape[-1]).float()
        # the chat template, as the CLI's default wrapping must reproduce it
        messages = [{"role": "user", "content": [{"type": "image"} for _ in names] + [{"type": "text", "text": "Describe it."}]}]
        templated = processor.apply_chat_template(messages, add_generation_prompt=True)
        records[f"{case}.template_ids"] = torch.tensor(tokenizer(templated)["input_ids"], dtype=torch.int64)
    records = {k: v.contiguous() for k, v in records.items()}
    save_torch(records, os.path.join(ROOT, cfg["name"] + ".safetensors"),
               metadata={"prompts": json.dumps({c: [p, n] for c, p, n in PROMPTS}),
                         "template_text": "Describe it."})
    print(cfg["name"], {k: tuple(v.shape) for k, v in records.items() if k.startswith("one-image")})


def main():
    os.makedirs(ROOT, exist_ok=True)
    images = make_images()
    toks = {"legacy": train_tokenizer("legacy"), "first": train_tokenizer("first")}
    cases = {}
    for kind, data in toks.items():
        folder = os.path.join(ROOT, "tokenizer-" + kind)
        write_tokenizer(folder, data, kind == "legacy")
        tk = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
        fast = PreTrainedTokenizerFast(tokenizer_file=os.path.join(folder, "tokenizer.json"))
        cases[kind] = []
        for text in TOKENIZER_CASES:
            with_special = tk.encode(text).ids
            assert fast(text)["input_ids"] == with_special, (kind, text)
            cases[kind].append({"text": text, "ids": with_special,
                                "ids_no_special": tk.encode(text, add_special_tokens=False).ids,
                                "decoded": tk.decode(tk.encode(text, add_special_tokens=False).ids)})
    json.dump(cases, open(os.path.join(ROOT, "tokenizer-cases.json"), "w"), ensure_ascii=False, indent=1)
    for cfg in CONFIGS:
        build(cfg, toks[cfg["tokenizer"]], images)


if __name__ == "__main__":
    main()
