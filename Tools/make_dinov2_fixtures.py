#!/usr/bin/env python3
"""Regenerates Tests/Fixtures/llava-hf/tiny-dinov2: a tiny seeded llava-hf checkpoint whose vision tower is a DINOv2
(HF transformers' Dinov2Model) and HF's numbers for it, read by Tests/LlavaModelsTests/DINOv2ParityTests.swift.

Mirrors Tools/make_llava_fixtures.py (same tokenizer, chat template, image and record layout). The tower's position
embeddings are made for a 4x4 grid (image_size 56, patch 14) while the processor makes 42 px crops (3x3 patches),
so every forward interpolates them 4 -> 3 as Dinov2Embeddings.interpolate_pos_encoding does. LayerScale, biases and
norms are set to random values after init so that none of them is an identity.

Run by hand in a venv outside the repo (never by CI); the image processor is HF's PIL backend (no torchvision):
    python Tools/make_dinov2_fixtures.py

What it writes, under Tests/Fixtures/llava-hf/:
  tiny-dinov2/              config.json and model.safetensors (save_pretrained), preprocessor_config.json
                            (BitImageProcessor, ImageNet mean/std), processor_config.json, tokenizer, chat template
  tiny-dinov2.safetensors   for one prompt with chelsea.jpg: input_ids, pixel_values, position_embeddings
                            (interpolated, [1 + 9, 32]), vision_hidden_states ([4, 10, 32], index 0 = embeddings),
                            selected_features (before the projector), image_features (projected), logits, greedy
"""
import json
import os
import shutil
import sys

import torch
from PIL import Image
from safetensors.torch import save_file
from transformers import (AutoProcessor, Dinov2Config, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration,
                          LlavaProcessor, PreTrainedTokenizerFast)
from transformers.models.bit.image_processing_pil_bit import BitImageProcessorPil

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_llava_fixtures import LLAVA_TEMPLATE, ROOT  # noqa: E402  (the existing fixtures' template and folder)

NAME = "tiny-dinov2"
IMAGE = "chelsea.jpg"          # 90x60: shortest edge 48 -> 72x48, centre crop 42 (left 15, top 3)
PROMPT = "USER: <image>\nWhat is shown in this picture? ASSISTANT:"
GREEDY_STEPS = 8
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
SHORTEST_EDGE, CROP, PATCH, TOWER_IMAGE = 48, 42, 14, 56
FEATURE_LAYER = -2


def randomize(model):
    """Non-trivial values everywhere in the tower: random LayerScale, biases, norms, CLS and position table."""
    g = torch.Generator().manual_seed(77)

    def normal(p, std):
        p.copy_(torch.randn(p.shape, generator=g) * std)

    def uniform(p, lo, hi):
        p.copy_(lo + (hi - lo) * torch.rand(p.shape, generator=g))

    with torch.no_grad():
        for n, p in model.named_parameters():
            if "vision_tower" not in n:
                if "norm" in n and p.dim() == 1 and "weight" in n:
                    uniform(p, 0.7, 1.3)
                continue
            if "lambda1" in n:
                uniform(p, 0.1, 2.0)
            elif "position_embeddings" in n or "cls_token" in n:
                normal(p, 0.5)
            elif "norm" in n and n.endswith("weight"):
                uniform(p, 0.7, 1.3)
            elif "patch_embeddings.projection.weight" in n:
                normal(p, 0.04)
            elif p.dim() == 2:
                normal(p, 0.08)
            elif n.endswith("bias"):
                normal(p, 0.1)


def build():
    torch.manual_seed(1234)
    folder = os.path.join(ROOT, NAME)
    if os.path.exists(folder):
        shutil.rmtree(folder)
    os.makedirs(folder)
    # The legacy tokenizer the other tiny fixtures use: <image> and <pad> follow the vocabulary.
    for f in ["tokenizer.json", "tokenizer_config.json"]:
        shutil.copy(os.path.join(ROOT, "tokenizer-legacy", f), os.path.join(folder, f))
    with open(os.path.join(folder, "tokenizer.json")) as f:
        n = len(json.load(f)["model"]["vocab"])
    n_vocab, image_token = n + 2, n

    vision = Dinov2Config(hidden_size=32, num_hidden_layers=3, num_attention_heads=4, mlp_ratio=4, hidden_act="gelu",
                          layer_norm_eps=1e-6, image_size=TOWER_IMAGE, patch_size=PATCH, num_channels=3,
                          qkv_bias=True, layerscale_value=1.0, use_swiglu_ffn=False, drop_path_rate=0.0)
    text = LlamaConfig(vocab_size=n_vocab, hidden_size=48, intermediate_size=104, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, rms_norm_eps=1e-6,
                       tie_word_embeddings=True, bos_token_id=1, eos_token_id=2, pad_token_id=n_vocab - 1,
                       initializer_range=0.15, rope_parameters={"rope_type": "default", "rope_theta": 10000.0})
    config = LlavaConfig(vision_config=vision, text_config=text, image_token_index=image_token,
                         vision_feature_layer=FEATURE_LAYER, vision_feature_select_strategy="default",
                         projector_hidden_act="gelu", tie_word_embeddings=True)
    model = LlavaForConditionalGeneration(config).eval()
    randomize(model)
    model.config.dtype = "float32"
    model.save_pretrained(folder)

    improc = {"image_processor_type": "BitImageProcessor", "do_resize": True, "size": {"shortest_edge": SHORTEST_EDGE},
              "resample": 3, "do_center_crop": True, "crop_size": {"height": CROP, "width": CROP},
              "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True, "image_mean": IMAGENET_MEAN,
              "image_std": IMAGENET_STD, "do_convert_rgb": True}
    proc = {"processor_class": "LlavaProcessor", "patch_size": PATCH, "num_additional_image_tokens": 1,
            "vision_feature_select_strategy": "default", "image_token": "<image>"}
    for fname, obj in [("preprocessor_config.json", improc), ("processor_config.json", proc),
                       ("chat_template.json", {"chat_template": LLAVA_TEMPLATE})]:
        with open(os.path.join(folder, fname), "w") as f:
            json.dump(obj, f, indent=1)

    # The processor, PIL backend pinned (what the Swift processor mirrors).
    image_processor = BitImageProcessorPil(**{k: v for k, v in improc.items() if k != "image_processor_type"})
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=os.path.join(folder, "tokenizer.json"), bos_token="<s>",
                                        eos_token="</s>", unk_token="<unk>", pad_token="<pad>")
    processor = LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=PATCH,
                               vision_feature_select_strategy="default", num_additional_image_tokens=1,
                               image_token="<image>", chat_template=LLAVA_TEMPLATE)
    image = Image.open(os.path.join(ROOT, "images", IMAGE))
    inputs = processor(images=[image], text=PROMPT, return_tensors="pt")
    pv = inputs["pixel_values"].float()
    assert pv.shape == (1, 3, CROP, CROP), pv.shape

    # The folder as HF reads it back: the same processor output, the same weights.
    auto = AutoProcessor.from_pretrained(folder)
    print("AutoProcessor:", type(auto).__name__, type(auto.image_processor).__name__)
    auto_inputs = auto(images=[image], text=PROMPT, return_tensors="pt")
    assert torch.equal(auto_inputs["input_ids"], inputs["input_ids"]), "AutoProcessor ids differ"
    assert torch.equal(auto_inputs["pixel_values"], inputs["pixel_values"]), "AutoProcessor pixels differ"
    reloaded = LlavaForConditionalGeneration.from_pretrained(folder, dtype=torch.float32).eval()

    tower = model.model.vision_tower
    layers = config.vision_config.num_hidden_layers
    index = FEATURE_LAYER if FEATURE_LAYER >= 0 else layers + 1 + FEATURE_LAYER
    with torch.no_grad():
        out = model(**inputs)
        out2 = reloaded(**inputs)
        assert torch.allclose(out.logits, out2.logits, atol=1e-6), "reload mismatch"
        gen = model.generate(**inputs, max_new_tokens=GREEDY_STEPS, do_sample=False)
        grid = CROP // PATCH
        pos = tower.embeddings.interpolate_pos_encoding(torch.zeros(1, 1 + grid * grid, 32), CROP, CROP)
        states = tower(pv, output_hidden_states=True).hidden_states
        assert len(states) == layers + 1
        selected = states[index][:, 1:]
        feats = model.model.get_image_features(pixel_values=pv, vision_feature_layer=FEATURE_LAYER,
                                               vision_feature_select_strategy="default")
        if hasattr(feats, "pooler_output"):
            feats = feats.pooler_output
        if isinstance(feats, (list, tuple)):
            feats = torch.cat(list(feats), dim=0)
        feats = feats.reshape(-1, feats.shape[-1])
        # The LLaVA path is the projector on hidden state `index` without CLS, and the embeddings use the table.
        assert torch.allclose(feats, model.model.multi_modal_projector(selected)[0], atol=1e-6)
        table = tower.embeddings.position_embeddings
        assert pos.shape == (1, 1 + grid * grid, 32) and torch.equal(pos[:, 0], table[:, 0])
        assert not torch.allclose(pos[:, 1:], table[:, 1:1 + grid * grid], atol=1e-2), "interpolation is trivial"
    greedy = gen[0, inputs["input_ids"].shape[1]:]
    assert greedy.numel() == GREEDY_STEPS, "generation stopped early: %s" % greedy.tolist()
    n_image = int((inputs["input_ids"] == image_token).sum())
    assert n_image == grid * grid == feats.shape[0], (n_image, feats.shape)

    records = {
        "input_ids": inputs["input_ids"][0].to(torch.int64),
        "pixel_values": pv,
        "position_embeddings": pos[0],
        "vision_hidden_states": torch.stack([s[0] for s in states]),
        "selected_features": selected[0],
        "image_features": feats,
        "logits": out.logits[0].float(),
        "greedy": greedy.to(torch.int64),
    }
    records = {k: v.detach().float().contiguous() if v.is_floating_point() else v.contiguous()
               for k, v in records.items()}
    save_file(records, os.path.join(ROOT, NAME + ".safetensors"),
              metadata={"prompt": PROMPT, "image": IMAGE, "feature_index": str(index)})
    for f in os.listdir(folder):
        os.chmod(os.path.join(folder, f), 0o644)   # safetensors writes 0600
    os.chmod(os.path.join(ROOT, NAME + ".safetensors"), 0o644)
    size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
    print(NAME, {k: tuple(v.shape) for k, v in records.items()})
    print("folder %d bytes, reference %d bytes; greedy %s; hidden state %d selected" % (
        size, os.path.getsize(os.path.join(ROOT, NAME + ".safetensors")), greedy.tolist(), index))
    print("weights:", sorted(k for k in reloaded.state_dict() if "vision" in k)[:3], "...")


if __name__ == "__main__":
    build()
