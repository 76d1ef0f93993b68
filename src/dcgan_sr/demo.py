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

from dcgan_sr import data, decoding, degrade, plots
from dcgan_sr.evaluate import face_metrics, format_table, robustness_rows, summarize, upscale_all
from dcgan_sr.io import write_atomic, write_json_atomic
from dcgan_sr.config import Config
from dcgan_sr.presets import DEFAULT_PRESET, PRESETS, WEIGHTS_DIR, preset_files
from dcgan_sr.upscaler import Upscaler

GRID_FACES = 6
TABLE_FACES = 4


def output_names(files: list[Path], root: str | Path) -> list[str]:
    """<stem>.png for each file; where two files share a stem (in different subfolders),
    their paths below `root` with "__" for "/", so no output overwrites another."""
    stems = [f.stem for f in files]
    return [f"{f.stem}.png" if stems.count(f.stem) == 1 else
            "__".join(f.relative_to(root).with_suffix(".png").parts) for f in files]


def run_demo(data_dir: str | Path, out_dir: str | Path = "outputs/demo", runtime: str = "auto") -> dict:
    out = Path(out_dir)
    photos, files = decoding.load_photos(data.find_images(data_dir))
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
