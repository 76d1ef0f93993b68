"""Score finished runs on the test partition of a prepared folder (any Keras backend).

    python benchmarks/ablation.py RUN [RUN ...] --prepared DIR --json ablation.json \
        --crops ablation_crops.npz --figures images/ablation

For each run: mean PSNR and SSIM (RGB and Y, 4-px border), the high-frequency ratio of
SR to HR (1.0 = as much fine detail as the photo), from the generator it exported
(generator.weights.h5) on every test face of DIR (HR by Pillow, as `dcgan-sr prepare`
writes; LR by the protocol's resize). Also keeps the SR of the first faces for a crop
figure: with --figures PREFIX, PREFIX_eyes.png and PREFIX_mouth.png (columns: HR,
bicubic, each run; rows: faces; each crop enlarged twice by pixel replication).
Bicubic is scored the same way, as the first row.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import keras
import numpy as np

from dcgan_sr import pixels, prepare
from dcgan_sr.evaluate import interpolate, summarize
from dcgan_sr.resize import pairs_from_hr
from dcgan_sr.plots import FACE_REGIONS, zoomed_crops
from dcgan_sr.presets import load_generator
from dcgan_sr.upscaler import Upscaler

CROP_FACES = 4
BATCH = 64


def markdown_table(rows: dict, n_images: int) -> str:
    lines = [f"| row ({n_images} test faces) | PSNR RGB | SSIM RGB | PSNR Y | SSIM Y | HF ratio "
             "| steps | train s |", "|---" * 8 + "|"]
    for name, row in rows.items():
        lines.append(f"| {name} | {row['psnr_rgb']:.2f} | {row['ssim_rgb']:.4f} | "
                     f"{row['psnr_y']:.2f} | {row['ssim_y']:.4f} | {row['hf_ratio']:.3f} | "
                     f"{row.get('steps', '')} | {row.get('wall_seconds', '')} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--prepared", required=True, type=Path)
    parser.add_argument("--json", required=True, type=Path)
    parser.add_argument("--crops", required=True, type=Path)
    parser.add_argument("--figures", help="write PREFIX_eyes.png and PREFIX_mouth.png")
    args = parser.parse_args(argv)
    hr = np.asarray(prepare.load_prepared(args.prepared, "test"))
    lr = np.concatenate([pixels.from_model(keras.ops.convert_to_numpy(pairs_from_hr(hr[i:i + BATCH])[0]))
                         for i in range(0, len(hr), BATCH)])
    methods = {"bicubic": lambda batch: interpolate(batch, "bicubic")}
    for run in args.runs:
        if not (run / "generator.weights.h5").exists():
            print(f"{run}: no generator.weights.h5 (unfinished); skipped")
            continue
        generator = load_generator(run / "generator.weights.h5")
        methods[run.name] = Upscaler(generator).batch
    batches = [slice(i, i + BATCH) for i in range(0, len(hr), BATCH)]
    result = summarize(({name: up(lr[b]) for name, up in methods.items()}, hr[b]) for b in batches)
    rows = {name: result[name] for name in methods}
    for run in args.runs:
        if run.name in rows:
            summary = json.loads((run / "summary.json").read_text())
            rows[run.name] |= {"steps": summary["steps_completed"],
                               "wall_seconds": summary["wall_seconds"]}
    print(markdown_table(rows, result["n_images"]))
    crops = {"HR": hr[:CROP_FACES], **{name: up(lr[:CROP_FACES]) for name, up in methods.items()}}
    args.json.write_text(json.dumps({"test_images": result["n_images"], "rows": rows}, indent=2) + "\n")
    np.savez_compressed(args.crops, **crops)
    for region in FACE_REGIONS if args.figures else ():
        print("wrote", zoomed_crops(crops, region, f"{args.figures}_{region}.png", zoom=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
