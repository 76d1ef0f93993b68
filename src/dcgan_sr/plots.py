"""The seed's figures, drawn pixel for pixel with Pillow (no resampling by a plotting library).

* `comparison_grid`: one row per face, columns LR | bilinear | super-resolved ... | HR.
* `comparison_table`: the seed README's table, LR at its true 32x32 size beside 128x128
  bilinear and super-resolved images.
* `robustness_grid`: one row per degradation of a face: LR as given | bicubic | presets | HR.
* `zoomed_crops`: one face region (eyes, mouth) of several faces, enlarged, per method.
* `training_curves`: losses and validation PSNR from a run's history.csv (matplotlib).
* `metrics_chart`: PSNR and SSIM per method as a dot plot, from an `evaluate` result (matplotlib).

PNG files are written without timestamps, so the same pixels give the same bytes.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from dcgan_sr.io import write_atomic

# (top, left, height, width) in the 128x128 HR frame of CelebA's aligned faces.
FACE_REGIONS = {"eyes": (50, 26, 30, 76), "mouth": (82, 40, 28, 48)}
BACKGROUND = (255, 255, 255)
TEXT = (0, 0, 0)
GAP = 4
HEADER = 18


def _font() -> ImageFont.FreeTypeFont:
    """Pillow's bundled TrueType font (the bitmap default drops spaces)."""
    return ImageFont.load_default(size=12)


def save_png(image: np.ndarray | Image.Image, path: str | Path) -> Path:
    image = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image))
    return write_atomic(path, lambda tmp: image.save(tmp, format="PNG"))


def tile(cells: np.ndarray, gap: int = 2) -> np.ndarray:
    """(rows, cols, H, W, 3) uint8 -> one image with `gap` white pixels between cells."""
    rows, cols, h, w, c = cells.shape
    out = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap, c), 255, np.uint8)
    for r in range(rows):
        for k in range(cols):
            out[r * (h + gap):r * (h + gap) + h, k * (w + gap):k * (w + gap) + w] = cells[r, k]
    return out


def nearest(images: np.ndarray, factor: int) -> np.ndarray:
    """Pixel replication, to show an LR image at HR size without hiding its pixels."""
    return np.repeat(np.repeat(images, factor, axis=-3), factor, axis=-2)


def _labelled(columns: dict[str, np.ndarray], widths: list[int], height: int) -> Image.Image:
    """Canvas with one header label per column; columns are stacks of (N, h, w, 3) images."""
    n = len(next(iter(columns.values())))
    canvas = Image.new("RGB", (sum(widths) + GAP * (len(widths) + 1),
                               HEADER + n * (height + GAP) + GAP), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    x = GAP
    for (label, images), width in zip(columns.items(), widths):
        draw.text((x, 2), label, fill=TEXT, font=_font())
        for i, image in enumerate(images):
            top = HEADER + i * (height + GAP) + (height - image.shape[0]) // 2
            left = x + (width - image.shape[1]) // 2
            canvas.paste(Image.fromarray(image), (left, top))
        x += width + GAP
    return canvas


def comparison_grid(lr: np.ndarray, hr: np.ndarray, upscaled: dict[str, np.ndarray],
                    path: str | Path) -> Path:
    """Rows of LR (pixels replicated) | each upscaled version | HR, labelled."""
    size = hr.shape[1]
    columns = {"LR 32x32": nearest(lr, size // lr.shape[1]), **upscaled, "HR": hr}
    return save_png(_labelled(columns, [size] * len(columns), size), path)


def robustness_grid(rows: dict[str, dict[str, np.ndarray]], path: str | Path,
                    label_width: int = 96) -> Path:
    """One row per degradation, its name on the left; columns as given (e.g. LR as given,
    pixels replicated | bicubic | each preset | HR), each a 128x128 image."""
    columns = list(next(iter(rows.values())))
    size = next(iter(next(iter(rows.values())).values())).shape[0]
    canvas = Image.new("RGB", (label_width + len(columns) * (size + GAP) + GAP,
                               HEADER + len(rows) * (size + GAP) + GAP), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    for k, column in enumerate(columns):
        draw.text((label_width + GAP + k * (size + GAP), 2), column, fill=TEXT, font=_font())
    for r, (name, images) in enumerate(rows.items()):
        top = HEADER + r * (size + GAP)
        draw.text((GAP, top + size // 2 - 6), name, fill=TEXT, font=_font())
        for k, column in enumerate(columns):
            canvas.paste(Image.fromarray(images[column]), (label_width + GAP + k * (size + GAP), top))
    return save_png(canvas, path)


def comparison_table(lr: np.ndarray, bilinear: np.ndarray, sr: np.ndarray,
                     path: str | Path, sr_label: str = "Super resolved") -> Path:
    """The seed's table: LR at its true size | bilinear | super-resolved."""
    size = sr.shape[1]
    columns = {"Low resolution": lr, "Bilinear": bilinear, sr_label: sr}
    return save_png(_labelled(columns, [max(size // 2, 90), size, size], size), path)


def zoomed_crops(images: dict[str, np.ndarray], region: str, path: str | Path,
                 zoom: int = 3) -> Path:
    """Columns = methods (e.g. bicubic, mse, gan, HR), rows = faces; each cell the region
    of FACE_REGIONS, enlarged `zoom` times by pixel replication."""
    top, left, h, w = FACE_REGIONS[region]
    columns = {name: nearest(batch[:, top:top + h, left:left + w], zoom)
               for name, batch in images.items()}
    return save_png(_labelled(columns, [w * zoom] * len(columns), h * zoom), path)


def read_history(path: str | Path) -> dict[str, np.ndarray]:
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {key: np.array([float(row[key]) if row[key] not in ("", None) else math.nan
                           for row in rows]) for key in rows[0]} if rows else {}


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save_figure(fig, path: str | Path) -> Path:
    """PNG without the software/date metadata, so the same figure gives the same bytes."""
    result = write_atomic(path, lambda tmp: fig.savefig(tmp, format="png", metadata={"Software": None}))
    _pyplot().close(fig)
    return result


def metrics_chart(result: dict, path: str | Path) -> Path:
    """Mean PSNR and SSIM (RGB and Y) per method as a dot plot, each value written beside
    its dot: positions, not bar lengths, so an axis that does not start at zero misleads
    no one."""
    plt = _pyplot()
    methods = [name for name in result if name != "n_images"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 0.45 * len(methods) + 1.4), dpi=100)
    y = np.arange(len(methods))[::-1]
    for ax, metric in zip(axes, ["psnr", "ssim"]):
        fmt = "{:.2f}" if metric == "psnr" else "{:.3f}"
        for channel, marker, offset in [("rgb", "o", 0.12), ("y", "s", -0.12)]:
            values = [result[m][f"{metric}_{channel}"] for m in methods]
            ax.plot(values, y + offset, marker, label=channel.upper())
            for value, height in zip(values, y + offset):
                ax.annotate(fmt.format(value), (value, height), xytext=(6, -3),
                            textcoords="offset points", fontsize=7)
        ax.set_yticks(y, methods)
        ax.set_ylim(-0.6, len(methods) - 0.4)
        ax.margins(x=0.15)
        ax.set_title(f"{metric.upper()} ({'dB' if metric == 'psnr' else 'higher is better'}),"
                     f" {result['n_images']} faces")
        ax.legend(fontsize=8, loc="upper right")
        ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return _save_figure(fig, path)


def training_curves(history_csv: str | Path, path: str | Path,
                    pretrain_steps: int | None = None) -> Path:
    """Generator content loss, adversarial losses and validation PSNR against the step."""
    plt = _pyplot()
    h = read_history(history_csv)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), dpi=100)
    axes[0].plot(h["step"], h["mse"], label="train MSE")
    axes[0].plot(h["step"], h["val_mse"], label="validation MSE")
    axes[0].set_yscale("log")
    axes[1].plot(h["step"], h["d_loss"], label="D loss")
    axes[1].plot(h["step"], h["adv"], label="G adversarial loss")
    axes[2].plot(h["step"], h["val_psnr"], label="validation PSNR (dB)")
    for ax, title in zip(axes, ["content loss", "adversarial losses", "validation PSNR"]):
        if pretrain_steps:
            ax.axvline(pretrain_steps, color="grey", linestyle=":", label="end of MSE warm-up")
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save_figure(fig, path)
