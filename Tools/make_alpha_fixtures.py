#!/usr/bin/env python3
"""Transparent images and what each reference makes of them (issue 17: alpha per path).

Run by hand in a venv outside the repo (never by CI), with transformers 5.24 and Pillow:
    python Tools/make_alpha_fixtures.py

The references differ on transparency:
  - HF transformers (llava-hf folders): `convert_to_rgb` composites over opaque white whenever the PIL image has an
    alpha band or a `transparency` entry (tRNS), then the processor runs (PIL backend pinned, as the Swift side mirrors).
  - llama.cpp's mtmd (GGUF + mmproj): stb_image with 3 channels asked, which drops alpha and ignores tRNS.
  - the original LLaVA release: `Image.open(f).convert("RGB")`, which drops alpha and ignores tRNS.

Writes, beside the other llava-hf images (Tests/Fixtures/llava-hf/images/):
  camera-la-alpha.png      gray + alpha, alpha a diagonal gradient with a fully transparent corner
  coffee-palette-trns.png  palette of 32 with a tRNS chunk (entries fully, half and not transparent)
  camera-gray-trns.png     8-bit gray with a tRNS key (one gray level transparent)
  astronaut-rgb-trns.png   RGB with a tRNS key colour (one colour transparent)
and Tests/Fixtures/llava-hf/alpha.safetensors with, per image (coffee-rgba.png too):
  <name>.rgb              uint8 [H, W, 3]  PIL convert("RGB"): what mtmd and the original LLaVA see
  <name>.hf               uint8 [H, W, 3]  transformers' convert_to_rgb
  <name>.<folder>         float32 [3, h, w] the folder's HF processor output (tiny-gqa-crop: CLIP with pad,
                                           tiny-dinov2: BitImageProcessor)
"""
import json
import os

import numpy as np
import torch
from PIL import Image
from safetensors.numpy import save_file
from transformers.image_transforms import convert_to_rgb
from transformers.models.bit.image_processing_pil_bit import BitImageProcessorPil
from transformers.models.llava.image_processing_pil_llava import LlavaImageProcessorPil

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "llava-hf")
IMAGES = os.path.join(ROOT, "images")


def make_images():
    coffee = Image.open(os.path.join(IMAGES, "coffee-rgba.png")).convert("RGB")
    camera = Image.open(os.path.join(IMAGES, "camera-gray.png")).convert("L")
    astronaut = Image.open(os.path.join(IMAGES, "astronaut.png")).convert("RGB")

    la = np.stack([np.array(camera), np.zeros_like(np.array(camera))], axis=-1)
    h, w = la.shape[:2]
    ramp = (np.arange(h)[:, None] + np.arange(w)[None, :]) * 255 // (h + w - 2)
    la[..., 1] = ramp.astype(np.uint8)
    la[: h // 4, : w // 4, 1] = 0
    Image.fromarray(la, "LA").save(os.path.join(IMAGES, "camera-la-alpha.png"))

    pal = coffee.convert("P", palette=Image.ADAPTIVE, colors=32)
    alpha = bytes([0, 128, 64, 255, 0, 200] + [255] * 26)
    pal.save(os.path.join(IMAGES, "coffee-palette-trns.png"), transparency=alpha)

    gray = camera.resize((40, 40))
    levels = np.array(gray)
    key = int(np.bincount(levels.ravel()).argmax())   # the commonest level, so many pixels match
    gray.save(os.path.join(IMAGES, "camera-gray-trns.png"), transparency=key)

    rgb = astronaut.resize((30, 45)).quantize(8).convert("RGB")
    arr = np.array(rgb).reshape(-1, 3)
    colours, counts = np.unique(arr, axis=0, return_counts=True)
    kc = tuple(int(v) for v in colours[counts.argmax()])
    rgb.save(os.path.join(IMAGES, "astronaut-rgb-trns.png"), transparency=kc)


def processor(folder):
    cfg = json.load(open(os.path.join(ROOT, folder, "preprocessor_config.json")))
    kind = cfg.pop("image_processor_type")
    cfg.pop("feature_extractor_type", None)
    return (LlavaImageProcessorPil if kind == "CLIPImageProcessor" else BitImageProcessorPil)(**cfg)


def main():
    make_images()
    names = ["coffee-rgba.png", "camera-la-alpha.png", "coffee-palette-trns.png", "camera-gray-trns.png",
             "astronaut-rgb-trns.png"]
    folders = ["tiny-gqa-crop", "tiny-dinov2"]
    procs = {f: processor(f) for f in folders}
    out = {}
    for name in names:
        im = Image.open(os.path.join(IMAGES, name))
        rgb = np.array(im.convert("RGB"), dtype=np.uint8)
        hf = convert_to_rgb(im, return_numpy=True).astype(np.uint8)
        out[f"{name}.rgb"] = np.ascontiguousarray(rgb)
        out[f"{name}.hf"] = np.ascontiguousarray(hf)
        for f, p in procs.items():
            pv = p(images=Image.open(os.path.join(IMAGES, name)), return_tensors="pt")["pixel_values"]
            out[f"{name}.{f}"] = np.ascontiguousarray(pv[0].to(torch.float32).numpy())
        moved = int((rgb != hf).any(axis=-1).sum())
        print(f"{name}: mode {im.mode}, {im.size[0]}x{im.size[1]}, {moved} pixels differ between the paths")
    save_file(out, os.path.join(ROOT, "alpha.safetensors"))


if __name__ == "__main__":
    main()
