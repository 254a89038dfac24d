#!/usr/bin/env python3
"""Redraws `llava scenes` ground truth with PIL, a second renderer independent of Sources/LlavaScenes/SceneRasterizer.

    python Tools/render_scenes_pil.py --scenes DATA/scenes.jsonl --output DATA-pil [--side N]
        [--format png|jpeg|keep] [--seed S] [--montage DATA-pil/montage.png]
    llava scenes questions --scenes DATA-pil/scenes.jsonl --output DATA-pil/questions.jsonl

Every fact a record states stays true (shapes, fill colours, sizes, positions, background kind and darkness); only the
drawing differs from ours: PIL's ellipse/polygon scan conversion, either aliased at 1x or drawn at 3x and reduced with
LANCZOS (ringing included), a thin darker outline on some shapes, PIL-made gradients (Image.linear_gradient), Gaussian
grain (sometimes coarse) instead of uniform per-pixel noise, checkerboards of rectangles whose cells fill the side
exactly, and PIL's own PNG/JPEG encoders. The per-scene choices come from --seed and the scene's seed, so a rerun
writes the same files. Writes DIR/images/<id>-pil.<ext> and DIR/scenes.jsonl (ids `<id>-pil`, renderer "pil").
"""
import argparse
import json
import math
import os
import random
import sys

from PIL import Image, ImageDraw, ImageFont

BIG = 3   # the anti-aliased path draws at 3x and downscales


def polygon(o):
    """Vertices in units of the side, as SceneObject.polygon defines them (circles: None)."""
    start = {"square": math.pi / 4, "triangle": -math.pi / 2, "star": -math.pi / 2}.get(o["shape"])
    if start is None:
        return None
    n = {"square": 4, "triangle": 3, "star": 10}[o["shape"]]
    r = o["radius"]
    pts = []
    for i in range(n):
        a = start + o["rotation"] + 2 * math.pi * i / n
        ri = r * 0.45 if o["shape"] == "star" and i % 2 == 1 else r
        pts.append((o["cx"] + ri * math.cos(a), o["cy"] + ri * math.sin(a)))
    return pts


def background(bg, side, rng):
    """The background at `side` pixels, made with PIL's own tools."""
    colors = [tuple(c) for c in bg.get("colors") or [[255, 255, 255]]]
    c0 = colors[0]
    c1 = colors[1] if len(colors) > 1 else c0
    kind = bg["kind"]
    if kind == "gradient":
        # linear_gradient runs 0 (top) to 255 (bottom); transposed for left to right (parameter 0).
        mask = Image.linear_gradient("L").resize((side, side), Image.BILINEAR)
        if bg.get("parameter", 0) == 0:
            mask = mask.transpose(Image.Transpose.TRANSPOSE)
        return Image.composite(Image.new("RGB", (side, side), c1), Image.new("RGB", (side, side), c0), mask)
    if kind == "noise":
        # Gaussian grain with the same spread as our uniform +-amplitude (sigma = a / sqrt 3), one value per pixel
        # for every channel, but on some scenes drawn at half resolution and enlarged (a coarser, softer grain).
        sigma = float(bg.get("parameter", 8)) / math.sqrt(3)
        grain = side if rng.random() < 0.5 else max(1, side // 2)
        values = bytes(max(0, min(255, round(128 + rng.gauss(0, sigma)))) for _ in range(grain * grain))
        noise = Image.frombytes("L", (grain, grain), values)
        if grain != side:
            noise = noise.resize((side, side), Image.BICUBIC)
        lut = [max(0, min(255, c + v - 128)) for c in c0 for v in range(256)]
        return Image.merge("RGB", [noise.point(lut[k * 256:(k + 1) * 256]) for k in range(3)])
    img = Image.new("RGB", (side, side), c0)
    if kind == "checker":
        cells = max(1, int(bg.get("parameter", 6)))
        edges = [round(i * side / cells) for i in range(cells + 1)]
        draw = ImageDraw.Draw(img)
        for i in range(cells):
            for j in range(cells):
                if (i + j) % 2 == 1:
                    draw.rectangle([edges[i], edges[j], edges[i + 1] - 1, edges[j + 1] - 1], fill=c1)
    return img


def render(scene, side, supersample, rng):
    """The scene drawn by PIL at `side` pixels: supersample 1 = aliased, BIG = drawn at 3x and reduced (LANCZOS).
    A point u of the record lands at u * side * supersample: ImageDraw's coordinates put pixel i on [i, i + 1)
    (measured: centroids then match the record's to 0.1 px; 1x fills run ~5% larger, PIL's edge rule)."""
    big = side * supersample
    img = background(scene["background"], side, rng)
    if supersample > 1:
        img = img.resize((big, big), Image.NEAREST)
    draw = ImageDraw.Draw(img)
    for o in scene["objects"]:
        fill = tuple(int(v) for v in o["fill"])
        outline, width = None, 0
        if rng.random() < 0.35:
            # A thin rim of fill * 0.7, 1-2 final pixels wide; 1 on small shapes so thin star arms keep their colour.
            width = 1 if o["radius"] * side < 12 else rng.choice([1, 2])
            outline = tuple(int(v * 0.7) for v in fill)
        pts = polygon(o)
        if pts is None:
            cx, cy, r = o["cx"] * big, o["cy"] * big, o["radius"] * big
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill, outline=outline, width=width * supersample)
        else:
            xy = [(x * big, y * big) for x, y in pts]
            # PIL draws a polygon's outline inward from the edge, so the rim never grows the shape.
            draw.polygon(xy, fill=fill, outline=outline, width=width * supersample)
    if supersample > 1:
        img = img.resize((side, side), Image.LANCZOS)
    return img


def save_atomic(img, path, fmt, quality):
    tmp = path + ".tmp"
    if fmt == "jpeg":
        img.save(tmp, format="JPEG", quality=quality)
    else:
        img.save(tmp, format="PNG")
    os.replace(tmp, path)


def write_atomic(text, path):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def montage(pairs, path, cols=4, rows=3, cell=160):
    """A contact sheet of the first cols*rows scenes: ours (left, if found) and PIL's (right), labelled."""
    font = ImageFont.load_default()
    pairs = pairs[:cols * rows]
    width = 2 * cell + 6
    sheet = Image.new("RGB", (cols * width + 6, rows * (cell + 16) + 6), (40, 40, 40))
    draw = ImageDraw.Draw(sheet)
    for n, (label, ours, theirs) in enumerate(pairs):
        x, y = 6 + (n % cols) * width, 6 + (n // cols) * (cell + 16)
        for k, p in enumerate((ours, theirs)):
            if p and os.path.exists(p):
                with Image.open(p) as im:
                    sheet.paste(im.convert("RGB").resize((cell, cell), Image.LANCZOS), (x + k * cell, y))
        draw.text((x, y + cell + 2), label, fill=(230, 230, 230), font=font)
    tmp = path + ".tmp"
    sheet.save(tmp, format="PNG")
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenes", required=True, help="scenes.jsonl from `llava scenes generate`")
    ap.add_argument("--output", required=True, help="folder for images/ and scenes.jsonl")
    ap.add_argument("--side", type=int, help="pixel side (default: each record's own)")
    ap.add_argument("--format", choices=["png", "jpeg", "keep"], default="keep",
                    help="file format (keep: each record's own, with its JPEG quality)")
    ap.add_argument("--seed", type=int, default=1, help="seed for the per-scene drawing choices")
    ap.add_argument("--montage", help="also write a 4x3 contact sheet (ours | PIL) of the first 12 scenes here")
    args = ap.parse_args(argv)
    if args.side is not None and not 16 <= args.side <= 4096:
        ap.error("--side must be 16...4096")

    source_images = os.path.join(os.path.dirname(os.path.abspath(args.scenes)), "images")
    images = os.path.join(args.output, "images")
    os.makedirs(images, exist_ok=True)
    lines, pairs = [], []
    with open(args.scenes, encoding="utf-8") as f:
        records = [(i + 1, line) for i, line in enumerate(f) if line.strip()]
    for number, line in records:
        try:
            scene = json.loads(line)
        except json.JSONDecodeError as e:
            sys.exit(f"{args.scenes}:{number}: not JSON ({e})")
        rng = random.Random(f"{args.seed}:{scene['seed']}:{scene['id']}")
        r = scene.get("rendering", {})
        side = args.side or int(r.get("side", 224))
        supersample = rng.choice([1, BIG, BIG])
        fmt = r.get("format", "png") if args.format == "keep" else args.format
        if fmt == "jpeg":
            quality = int(r.get("quality") or 0) if args.format == "keep" else 0
            quality = quality if 1 <= quality <= 100 else rng.randint(70, 95)
        else:
            fmt, quality = "png", 0
        img = render(scene, side, supersample, rng)
        original_image = scene.get("image")
        scene["id"] = scene["id"] + "-pil"
        scene["image"] = scene["id"] + (".jpg" if fmt == "jpeg" else ".png")
        scene["rendering"] = {"side": side, "supersample": supersample, "format": fmt, "quality": quality,
                              "renderer": "pil"}
        save_atomic(img, os.path.join(images, scene["image"]), fmt, quality)
        lines.append(json.dumps(scene, sort_keys=True, separators=(",", ":")) + "\n")
        ours = os.path.join(source_images, original_image) if original_image else None
        pairs.append((scene["id"], ours, os.path.join(images, scene["image"])))
    write_atomic("".join(lines), os.path.join(args.output, "scenes.jsonl"))
    if args.montage:
        montage(pairs, args.montage)
    print(f"wrote {len(lines)} scenes to {args.output}")


if __name__ == "__main__":
    main()
