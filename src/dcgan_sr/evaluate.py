"""Mean PSNR/SSIM of bilinear, bicubic and generators on a split of a CelebA folder."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from dcgan_sr import data, metrics
from dcgan_sr.errors import UserError


def interpolate(lr: np.ndarray, method: str) -> np.ndarray:
    """uint8 LR batch -> uint8 4x batch by classic interpolation ('bilinear' or 'bicubic')."""
    import tensorflow as tf

    h, w = lr.shape[1] * data.SCALE, lr.shape[2] * data.SCALE
    up = tf.image.resize(tf.cast(lr, tf.float32), (h, w), method=method)
    return np.clip(np.round(up.numpy()), 0, 255).astype(np.uint8)


def super_resolve(generator: keras.Model, lr: np.ndarray) -> np.ndarray:
    """uint8 LR batch -> uint8 SR batch."""
    return data.from_model(generator(data.to_model(lr), training=False))


def upscale_all(lr: np.ndarray, generators: dict[str, keras.Model]) -> dict[str, np.ndarray]:
    """Bilinear, bicubic and each generator's output for one batch, by name."""
    return {"bilinear": interpolate(lr, "bilinear"), "bicubic": interpolate(lr, "bicubic"),
            **{name: super_resolve(g, lr) for name, g in generators.items()}}


def summarize(batches) -> dict:
    """Mean metrics per method over an iterable of (upscaled by method, hr) uint8 batches."""
    per_method: dict[str, list[dict[str, np.ndarray]]] = {}
    n = 0
    for upscaled, hr in batches:
        n += len(hr)
        for name, sr in upscaled.items():
            per_method.setdefault(name, []).append(metrics.per_image(sr, hr))
    result: dict = {"n_images": n}
    for name, scores in per_method.items():
        result[name] = {key: round(float(np.mean(np.concatenate([s[key] for s in scores]))), 4)
                        for key in scores[0]}
    return result


def evaluate_pairs(pairs, generators: dict[str, keras.Model]) -> dict:
    """Metrics over an iterable of (lr, hr) uint8 batches."""
    return summarize((upscale_all(np.asarray(lr), generators), np.asarray(hr)) for lr, hr in pairs)


def evaluate(data_dir: str | Path, generators: dict[str, keras.Model], split: str = "test",
             limit: int | None = None) -> dict:
    """`dcgan-sr evaluate`: the degradation protocol on `split`, then metrics per method."""
    files = data.split_files(data.find_images(data_dir), split, data_dir)[:limit]
    if not files:
        raise UserError(f"{data_dir}: no images of the {split!r} split; pick another --split")
    hr_images = data.load_hr_images(files)
    return evaluate_pairs(data.evaluation_pairs(hr_images).as_numpy_iterator(), generators)


def format_table(result: dict) -> str:
    """A plain-text table of an evaluate() result, one row per method."""
    lines = [f"{'method':<10} {'PSNR RGB':>9} {'SSIM RGB':>9} {'PSNR Y':>8} {'SSIM Y':>8} {'HF ratio':>9}"
             f"   ({result['n_images']} images, 4-px border crop)"]
    for name, row in result.items():
        if name != "n_images":
            lines.append(f"{name:<10} {row['psnr_rgb']:>9.2f} {row['ssim_rgb']:>9.4f} "
                         f"{row['psnr_y']:>8.2f} {row['ssim_y']:>8.4f} {row['hf_ratio']:>9.3f}")
    return "\n".join(lines)
