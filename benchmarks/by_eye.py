"""Generators side by side, to judge by eye what the identity and landmark distances say:
the first N faces of data/sample/ under one named degradation, each generator's result with
its identity (ID) and landmark (LM) distance under it, and the eyes region enlarged 3x.

    python benchmarks/by_eye.py --weights A.weights.h5,B.weights.h5 --names A,B --out DIR

Writes DIR/strip.png and DIR/eyes.png (and prints the distances). A metric that shares a
network with a training loss can be lowered by patterns a person does not see as the face;
this is where such patterns show.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", required=True, help="comma-separated presets or .weights.h5 files")
    parser.add_argument("--names", help="comma-separated column names (default: the weights)")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--faces", type=int, default=4)
    parser.add_argument("--degradation", default="protocol")
    args = parser.parse_args(argv)
    weights = args.weights.split(",")
    names = args.names.split(",") if args.names else weights
    if len(names) != len(weights):
        parser.error("--names needs one name per --weights entry")

    from dcgan_sr import data, degrade, metrics, plots, pixels  # TensorFlow starts here
    from dcgan_sr.evaluate import interpolate
    from dcgan_sr.upscaler import Upscaler

    photos = [pixels.read_photo(p) for p in data.find_images(data.SAMPLE_DIR)[:args.faces]]
    lr, hr = degrade.pairs(photos, args.degradation)
    upscaled = {"bicubic": interpolate(lr, "bicubic"),
                **{name: Upscaler(w).batch(lr) for name, w in zip(names, weights)}}
    scores = metrics.FaceMetrics().scores(upscaled, hr)
    args.out.mkdir(parents=True, exist_ok=True)
    plots.identity_strip(upscaled, hr, scores, args.out / "strip.png")
    plots.zoomed_crops({**upscaled, "HR": hr}, "eyes", args.out / "eyes.png")
    for name, s in scores.items():
        print(f"{name:16s} ID", " ".join(f"{v:.2f}" for v in s["identity"]),
              "  LM", " ".join(f"{v:.2f}" for v in s["landmarks"]))
    print(f"wrote {args.out / 'strip.png'} and {args.out / 'eyes.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
