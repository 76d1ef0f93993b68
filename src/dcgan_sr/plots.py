"""The seed's figures, drawn pixel for pixel with Pillow (no resampling by a plotting library).

* `comparison_grid`: one row per face, columns LR | bilinear | super-resolved ... | HR.
* `comparison_table`: the seed README's table, LR at its true 32x32 size beside 128x128
  bilinear and super-resolved images.
* `robustness_grid`: one row per degradation of a face: LR as given | bicubic | presets | HR.
* `zoomed_crops`: one face region (eyes, mouth) of several faces, enlarged, per method.
* `training_curves`: losses and validation PSNR from a run's history.csv (matplotlib).
* `validation_curves`: validation PSNR of runs that continue one another (matplotlib).
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


def identity_strip(upscaled: dict[str, np.ndarray], hr: np.ndarray, scores: dict, path: str | Path,
                   caption: int = 16) -> Path:
    """Columns = methods and HR, rows = faces; under each result its identity distance to
    the truth (dlib's descriptor, "ID") and landmark distance in pixels ("LM"), from
    `FaceMetrics.scores`: to judge by eye what the two numbers say."""
    size = hr.shape[1]
    columns = {**upscaled, "HR": hr}
    canvas = Image.new("RGB", (len(columns) * (size + GAP) + GAP,
                               HEADER + len(hr) * (size + caption + GAP) + GAP), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    for k, (name, batch) in enumerate(columns.items()):
        left = GAP + k * (size + GAP)
        draw.text((left, 2), name, fill=TEXT, font=_font())
        for i, face in enumerate(batch):
            top = HEADER + i * (size + caption + GAP)
            canvas.paste(Image.fromarray(face), (left, top))
            text = ("the truth" if name == "HR" else
                    f"ID {scores[name]['identity'][i]:.2f}  LM {scores[name]['landmarks'][i]:.2f}")
            draw.text((left + 2, top + size + 2), text, fill=TEXT, font=_font())
    return save_png(canvas, path)


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
    methods = [name for name, row in result.items() if isinstance(row, dict)]  # not the counts
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


def training_curves(history_csv: str | Path, path: str | Path, config,
                    bicubic_psnr: float | None = None) -> Path:
    """A run's history.csv against the step, in four panels: G's loss term by term, each
    with its weight from `config` (a Config); D's and G's adversarial losses beside their
    values at chance (`losses.at_chance`); D's mean output on real and super-resolved faces
    (with 0.5, chance, when D outputs probabilities); validation PSNR, beside bicubic's
    when given. A dotted line ends the MSE warm-up."""
    from dcgan_sr.losses import ADVERSARIAL, at_chance

    plt = _pyplot()
    h = read_history(history_csv)
    step = h["step"]
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.8), dpi=100)
    g_terms = {f"{config.mse_weight:g} x MSE": config.mse_weight * h["mse"],
               f"{config.adv_weight:g} x adversarial": config.adv_weight * h["adv"]}
    if config.content_loss != "none":
        g_terms[f"{config.content_weight:g} x {config.content_loss}"] = config.content_weight * h["content"]
    for label, values in g_terms.items():
        axes[0].plot(step, values, label=label)
    axes[0].plot(step, h["g_loss"], color="black", linewidth=1, label="G's loss (their sum)")
    axes[0].set_yscale("log")
    d_chance, g_chance = at_chance(config.gan_loss)
    for column, who, chance, colour in (("d_loss", "D", d_chance, "C0"), ("adv", "G", g_chance, "C1")):
        axes[1].plot(step, h[column], label=f"{who}'s {'loss' if who == 'D' else 'adversarial loss'}",
                     color=colour)
        axes[1].axhline(chance, color=colour, linestyle="--", linewidth=0.8,
                        label=f"{who} at chance ({chance:.3f})")
    logits = ADVERSARIAL[config.gan_loss].logits
    axes[2].plot(step, h["d_real"], label="on real faces", color="C2")
    axes[2].plot(step, h["d_fake"], label="on G's faces", color="C3")
    if not logits:
        axes[2].axhline(0.5, color="grey", linestyle="--", linewidth=0.8, label="chance (0.5)")
    axes[3].plot(step, h["val_psnr"], label="G, validation", color="C4")
    if bicubic_psnr is not None:
        axes[3].axhline(bicubic_psnr, color="grey", linestyle="--", linewidth=0.8,
                        label=f"bicubic ({bicubic_psnr:.2f})")
    titles = ["G's loss, term by term (weighted)", f"adversarial losses ({config.gan_loss})",
              f"D's mean {'logit' if logits else 'output'}", "validation PSNR (dB)"]
    for ax, title in zip(axes, titles):
        if config.pretrain_steps:
            ax.axvline(config.pretrain_steps, color="grey", linestyle=":", label="end of MSE warm-up")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save_figure(fig, path)


def validation_curves(runs: dict[str, tuple[str | Path, int]], path: str | Path,
                      bicubic_psnr: float | None = None, marked_step: int | None = None) -> Path:
    """Validation PSNR against the step for one run or runs that continue one another (a long
    run, then a fine-tune from one of its generators): `runs` maps a label to (history.csv, the
    step that run started from); `marked_step`, e.g. the generator that ships, gets a line."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=100)
    for k, (label, (history_csv, start)) in enumerate(runs.items()):
        h = read_history(history_csv)
        ax.plot(start + h["step"], h["val_psnr"], marker=".", color=f"C{k}", label=label)
    if bicubic_psnr is not None:
        ax.axhline(bicubic_psnr, color="grey", linestyle="--", linewidth=0.8,
                   label=f"bicubic ({bicubic_psnr:.2f})")
    if marked_step is not None:
        ax.axvline(marked_step, color="black", linestyle=":", linewidth=1,
                   label=f"step {marked_step:,}")
    ax.set_title("validation PSNR (dB)", fontsize=10)
    ax.set_xlabel("step")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save_figure(fig, path)


def gain_histograms(gains: dict[str, dict[str, np.ndarray]], path: str | Path) -> Path:
    """One panel per degradation: a histogram of each method's per-face PSNR gain over
    bicubic (dB), with 0 (bicubic itself) marked. `gains`: {degradation: {method: gains}}."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(gains), figsize=(2.4 * len(gains), 2.6), dpi=100, sharey=True)
    values = np.concatenate([g for row in gains.values() for g in row.values()])
    bins = np.linspace(min(values.min(), 0) - 0.25, values.max() + 0.25, 24)
    for ax, (degradation, row) in zip(np.atleast_1d(axes), gains.items()):
        for k, (method, gain) in enumerate(row.items()):
            ax.hist(gain, bins=bins, alpha=0.55, color=f"C{k}", label=method)
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_title(degradation, fontsize=9)
        ax.set_xlabel("dB over bicubic", fontsize=8)
        ax.tick_params(labelsize=7)
    np.atleast_1d(axes)[0].set_ylabel("faces", fontsize=8)
    np.atleast_1d(axes)[0].legend(fontsize=7)
    fig.tight_layout()
    return _save_figure(fig, path)


def error_maps(upscaled: dict[str, np.ndarray], hr: np.ndarray, path: str | Path,
               gain: int = 4) -> Path:
    """Columns = methods, rows = faces: |method - HR|, averaged over the colours and `gain`
    times amplified, dark where the error is large (white: no error)."""
    def error(batch):
        e = np.abs(batch.astype(np.float32) - hr.astype(np.float32)).mean(axis=-1)
        grey = np.clip(255 - gain * e, 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=-1)
    columns = {f"|{name} - HR|": error(batch) for name, batch in upscaled.items()}
    size = hr.shape[1]
    return save_png(_labelled(columns, [size] * len(columns), size), path)


def jpeg_preview(png_path: str | Path, quality: int = 85) -> Path:
    """A JPEG copy of a figure beside it, to show in a notebook at a fraction of the bytes."""
    png_path = Path(png_path)
    with Image.open(png_path) as image:
        rgb = image.convert("RGB")
    return write_atomic(png_path.with_suffix(".jpg"),
                        lambda tmp: rgb.save(tmp, format="JPEG", quality=quality))


def perception_distortion(table: dict, path: str | Path) -> Path:
    """PSNR against identity distance, one marker per degradation for bicubic and each
    method of a robustness table ({degradation: evaluate result}): up is closer to the
    pixels, left is closer to the person."""
    plt = _pyplot()
    methods = [m for m, row in next(iter(table.values())).items()
               if isinstance(row, dict) and m != "bilinear"]
    markers = "osD^v<>pP*X"
    fig, ax = plt.subplots(figsize=(7.5, 4.6), dpi=100)
    for k, method in enumerate(methods):
        for d, (degradation, result) in enumerate(table.items()):
            ax.scatter(result[method]["identity"], result[method]["psnr_rgb"], color=f"C{k}",
                       marker=markers[d % len(markers)], s=36,
                       label=method if d == 0 else None)
    for d, degradation in enumerate(table):
        ax.scatter([], [], color="grey", marker=markers[d % len(markers)], label=degradation)
    ax.set_xlabel("identity distance to the true face (dlib; lower is better)")
    ax.set_ylabel("PSNR RGB (dB; higher is better)")
    n = next(iter(table.values()))["n_images"]
    ax.set_title(f"Pixels against person: each method under each degradation, {n} faces", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2, loc="lower left")
    fig.tight_layout()
    return _save_figure(fig, path)


def main(argv: list[str] | None = None) -> int:
    """`python -m dcgan_sr.plots perception-distortion TABLE.json OUT.png` (make figures)."""
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m dcgan_sr.plots")
    parser.add_argument("figure", choices=["perception-distortion"])
    parser.add_argument("table", help="JSON of `dcgan-sr evaluate --degradation all --json`")
    parser.add_argument("out", help="PNG to write")
    args = parser.parse_args(argv)
    print(perception_distortion(json.loads(Path(args.table).read_text()), args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
