"""Score finished runs on the test partition of a prepared folder (any Keras backend).

    python benchmarks/ablation.py RUN [RUN ...] --prepared DIR --json ablation.json \
        --crops ablation_crops.npz

For each run: mean PSNR and SSIM (RGB and Y, 4-px border), the high-frequency ratio of
SR to HR (1.0 = as much fine detail as the photo), from the generator it exported
(generator.weights.h5) on every test face of DIR (HR by Pillow, as `dcgan-sr prepare`
writes; LR by the protocol's resize). Also keeps the SR of the first faces for a crop
figure. Bicubic is scored the same way, as the first row.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import keras
import numpy as np
from PIL import Image

from dcgan_sr import arrays, metrics
from dcgan_sr.config import Config
from dcgan_sr.gan import pairs_from_hr
from dcgan_sr.models import build_generator

CROP_FACES = 4


def _lr(hr: np.ndarray) -> np.ndarray:
    lr, _ = pairs_from_hr(hr)
    return np.round((keras.ops.convert_to_numpy(lr) + 1) * 127.5).astype(np.uint8)


def bicubic(lr: np.ndarray) -> np.ndarray:
    return np.stack([np.asarray(Image.fromarray(x).resize((128, 128), Image.BICUBIC)) for x in lr])


def super_resolve(run: Path, lr: np.ndarray) -> np.ndarray:
    config = Config.load(run / "config.json")
    generator = build_generator(config)
    generator.load_weights(run / "generator.weights.h5")
    sr = generator.predict(lr.astype(np.float32) / 127.5 - 1, batch_size=64, verbose=0)
    return np.clip(np.round((sr + 1) * 127.5), 0, 255).astype(np.uint8)


def score(sr: np.ndarray, hr: np.ndarray) -> dict:
    values = metrics.per_image(sr, hr)
    return {name: round(float(np.mean(v)), 4) for name, v in values.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--prepared", required=True, type=Path)
    parser.add_argument("--json", required=True, type=Path)
    parser.add_argument("--crops", required=True, type=Path)
    args = parser.parse_args(argv)
    hr = np.asarray(arrays.load_prepared(args.prepared, "test"))
    lr = np.concatenate([_lr(hr[i:i + 64]) for i in range(0, len(hr), 64)])
    rows = {"bicubic": score(bicubic(lr), hr)}
    crops = {"hr": hr[:CROP_FACES], "bicubic": bicubic(lr[:CROP_FACES])}
    for run in args.runs:
        if not (run / "generator.weights.h5").exists():
            print(f"{run}: no generator.weights.h5 (unfinished); skipped")
            continue
        sr = super_resolve(run, lr)
        summary = json.loads((run / "summary.json").read_text())
        rows[run.name] = score(sr, hr) | {"steps": summary["steps_completed"],
                                          "wall_seconds": summary["wall_seconds"]}
        crops[run.name] = sr[:CROP_FACES]
        print(run.name, rows[run.name], flush=True)
    args.json.write_text(json.dumps({"test_images": len(hr), "rows": rows}, indent=2) + "\n")
    np.savez_compressed(args.crops, **crops)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
