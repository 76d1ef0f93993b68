"""`dcgan-sr demo`: the shipped presets on the bundled sample faces, offline.

Writes to the output folder:
    comparison_grid.png    LR | bilinear | bicubic | each preset | HR, six faces
    robustness.png         the first face under each named degradation (dcgan_sr.degrade):
                           LR as given | bicubic | each preset | HR
    comparison_table.png   the seed's table: LR | bilinear | super-resolved (default preset), four faces
    training_curves.png    losses and validation PSNR of the run that trained the presets
    metrics.png            PSNR and SSIM per method, as bars
    metrics.json, metrics.txt   PSNR/SSIM of each method on every sample face
    sr/<name>.png          the default preset's output for every face
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dcgan_sr import arrays, data, degrade, plots
from dcgan_sr.evaluate import face_metrics, format_table, interpolate, summarize, upscale_all
from dcgan_sr.io import write_atomic, write_json_atomic
from dcgan_sr.config import Config
from dcgan_sr.presets import DEFAULT_PRESET, PRESETS, WEIGHTS_DIR, preset_files
from dcgan_sr.upscaler import Upscaler

GRID_FACES = 6
TABLE_FACES = 4


def load_photos(data_dir: str | Path) -> tuple[list[Path], list[np.ndarray]]:
    """Every readable image of a folder, and the files they came from (unreadable ones are
    named in the log and left out, so results stay keyed by their own file)."""
    photos, files = arrays.load_photos(data.find_images(data_dir))
    return files, photos


def load_pairs(data_dir: str | Path, degradation: str = "protocol"
               ) -> tuple[list[Path], np.ndarray, np.ndarray]:
    """Every readable image of a folder as (files, LR, HR) uint8 arrays, by a named degradation."""
    files, photos = load_photos(data_dir)
    return (files, *degrade.pairs(photos, degradation))


def output_names(files: list[Path], root: str | Path) -> list[str]:
    """<stem>.png for each file; where two files share a stem (in different subfolders),
    their paths below `root` with "__" for "/", so no output overwrites another."""
    stems = [f.stem for f in files]
    return [f"{f.stem}.png" if stems.count(f.stem) == 1 else
            "__".join(f.relative_to(root).with_suffix(".png").parts) for f in files]


def degradation_row(photo: np.ndarray, degradation: str, upscalers: dict[str, Upscaler]
                    ) -> dict[str, np.ndarray]:
    """One face under one named degradation: LR as given (4x, nearest), bicubic, each
    preset, HR."""
    lr, hr = degrade.pairs([photo], degradation)
    row = {"LR as given": plots.nearest(lr, data.SCALE)[0], "bicubic": interpolate(lr, "bicubic")[0]}
    row.update({preset: up.batch(lr)[0] for preset, up in upscalers.items()})
    return row | {"HR": hr[0]}


def robustness_rows(photo: np.ndarray, upscalers: dict[str, Upscaler]) -> dict[str, dict[str, np.ndarray]]:
    """One face under every named degradation (`degradation_row` of each)."""
    return {name: degradation_row(photo, name, upscalers) for name in degrade.NAMED}


def run_demo(data_dir: str | Path, out_dir: str | Path = "outputs/demo", runtime: str = "auto") -> dict:
    out = Path(out_dir)
    files, photos = load_photos(data_dir)
    lr, hr = degrade.pairs(photos, "protocol")
    upscalers = {name: Upscaler(name, runtime=runtime) for name in PRESETS}
    upscaled = upscale_all(lr, upscalers)
    result = summarize([(upscaled, hr)], face_metrics())

    shown = slice(0, GRID_FACES)
    plots.comparison_grid(lr[shown], hr[shown], {k: v[shown] for k, v in upscaled.items()},
                          out / "comparison_grid.png")
    faces = slice(0, TABLE_FACES)
    plots.comparison_table(lr[faces], upscaled["bilinear"][faces], upscaled[DEFAULT_PRESET][faces],
                           out / "comparison_table.png")
    history = WEIGHTS_DIR / "history.csv"
    if history.is_file():
        plots.training_curves(history, out / "training_curves.png", Config.load(preset_files("gan")[1]))
    plots.robustness_grid(robustness_rows(photos[0], upscalers), out / "robustness.png")
    for name, sr in zip(output_names(files, data_dir), upscaled[DEFAULT_PRESET]):
        plots.save_png(sr, out / "sr" / name)
    plots.metrics_chart(result, out / "metrics.png")
    table = format_table(result)
    write_json_atomic(out / "metrics.json", result)
    write_atomic(out / "metrics.txt", lambda t: Path(t).write_text(table + "\n"))
    print(table)
    print(f"\nwrote {out}/: comparison_grid.png, robustness.png, comparison_table.png, training_curves.png, "
          f"metrics.png, metrics.json, metrics.txt, and the {DEFAULT_PRESET} preset's {len(files)} "
          "faces in sr/")
    return result
