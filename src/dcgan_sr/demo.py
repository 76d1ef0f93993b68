"""`dcgan-sr demo`: the shipped presets on the bundled sample faces, offline.

Writes to the output folder:
    comparison_grid.png    LR | bilinear | bicubic | mse | gan | HR, six faces
    comparison_table.png   the seed's table: LR | bilinear | super-resolved (gan), four faces
    training_curves.png    losses and validation PSNR of the run that trained the presets
    metrics.png            PSNR and SSIM per method, as bars
    metrics.json, metrics.txt   PSNR/SSIM of each method on every sample face
    sr/<name>.png          the gan preset's output for every face
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from dcgan_sr import data, plots
from dcgan_sr.evaluate import format_table, summarize, upscale_all
from dcgan_sr.io import write_atomic
from dcgan_sr.config import Config
from dcgan_sr.presets import PRESETS, WEIGHTS_DIR, load_generator, preset_files

GRID_FACES = 6
TABLE_FACES = 4


def load_pairs(data_dir: str | Path) -> tuple[list[Path], np.ndarray, np.ndarray]:
    """Every readable image of a folder as (files, LR, HR) uint8 arrays, by the protocol."""
    files = data.find_images(data_dir)
    hr = np.stack(list(data.load_hr_images(files).as_numpy_iterator()))
    return files, np.asarray(data.lr_from_hr(hr)), hr


def run_demo(data_dir: str | Path, out_dir: str | Path = "outputs/demo") -> dict:
    out = Path(out_dir)
    files, lr, hr = load_pairs(data_dir)
    generators = {name: load_generator(name) for name in PRESETS}
    upscaled = upscale_all(lr, generators)
    result = summarize([(upscaled, hr)])

    shown = slice(0, GRID_FACES)
    plots.comparison_grid(lr[shown], hr[shown], {k: v[shown] for k, v in upscaled.items()},
                          out / "comparison_grid.png")
    faces = slice(0, TABLE_FACES)
    plots.comparison_table(lr[faces], upscaled["bilinear"][faces], upscaled["gan"][faces],
                           out / "comparison_table.png")
    history = WEIGHTS_DIR / "history.csv"
    if history.is_file():
        warm_up = Config.load(preset_files("gan")[1]).pretrain_steps
        plots.training_curves(history, out / "training_curves.png", pretrain_steps=warm_up)
    for path, sr in zip(files, upscaled["gan"]):
        plots.save_png(sr, out / "sr" / f"{path.stem}.png")
    plots.metrics_chart(result, out / "metrics.png")
    table = format_table(result)
    write_atomic(out / "metrics.json", lambda t: Path(t).write_text(json.dumps(result, indent=2) + "\n"))
    write_atomic(out / "metrics.txt", lambda t: Path(t).write_text(table + "\n"))
    print(table)
    print(f"\nwrote {out}/: comparison_grid.png, comparison_table.png, training_curves.png, "
          f"metrics.png, metrics.json, metrics.txt, and the gan preset's {len(files)} faces in sr/")
    return result
