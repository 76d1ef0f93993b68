"""Mean PSNR/SSIM/sharpness of bilinear, bicubic and generators on a split of a face folder,
under any named degradation of `dcgan_sr.degrade` (the protocol by default).

Each generator runs as users run it: through a `dcgan_sr.Upscaler`. `degradation_row` and
`robustness_rows` are the same comparison for one face, as images (the robustness figure,
the web app's degradation tab)."""

from __future__ import annotations

import functools
import logging
import math
from pathlib import Path

import keras
import numpy as np

from dcgan_sr import data, decoding, degrade, metrics, plots
from dcgan_sr.errors import UserError
from dcgan_sr.upscaler import Upscaler
from dcgan_sr.vocabulary import SCALE

BATCH = 32

log = logging.getLogger(__name__)


def interpolate(lr: np.ndarray, method: str) -> np.ndarray:
    """uint8 LR batch -> uint8 4x batch by classic interpolation ('bilinear' or 'bicubic'):
    keras.ops.image.resize, the same bicubic as the generators' bicubic skip."""
    h, w = lr.shape[1] * SCALE, lr.shape[2] * SCALE
    up = keras.ops.image.resize(np.asarray(lr, np.float32), (h, w), interpolation=method)
    return np.clip(np.round(keras.ops.convert_to_numpy(up)), 0, 255).astype(np.uint8)


def upscale_all(lr: np.ndarray, upscalers: dict[str, Upscaler]) -> dict[str, np.ndarray]:
    """Bilinear, bicubic and each upscaler's output for one uint8 batch, by name."""
    return {"bilinear": interpolate(lr, "bilinear"), "bicubic": interpolate(lr, "bicubic"),
            **{name: up.batch(lr) for name, up in upscalers.items()}}


@functools.cache
def face_metrics() -> metrics.FaceMetrics | None:
    """The identity and landmark metrics when dlib is installed (the [faces] extra), else
    None, said once; made once per process (its models, and the truth's analyses, are kept)."""
    if metrics.faces_available():
        return metrics.FaceMetrics()
    log.info("no identity or landmark distances: dlib is not installed "
             "(pip install -r requirements.txt, or pip install .[faces])")
    return None


def summarize(batches, faces: metrics.FaceMetrics | None = None, people=None) -> dict:
    """Mean metrics per method over an iterable of (upscaled by method, hr) uint8 batches;
    with `faces`, also the identity and landmark distances and the share of faces dlib
    takes for the same person (identity below metrics.SAME_PERSON); with `faces` and
    `people` (who each image shows, in order), also identification: each method's rank-1
    (`metrics.rank1`: is the output's nearest other photo of the split, by face descriptor,
    one of the same person?) and the truth's own rank-1, `identification_ceiling`.

    PSNR is capped at metrics.PSNR_CAP (identical images); a metric undefined for an image
    (the HF ratio of a flat HR) is left out of its mean, so the JSON stays valid."""
    per_method: dict[str, list[dict[str, np.ndarray]]] = {}
    descriptors: dict[str, list[np.ndarray]] = {}
    n = 0
    for upscaled, hr in batches:
        n += len(hr)
        face_scores = faces.scores(upscaled, hr) if faces else {}
        if faces and people is not None:
            descriptors.setdefault("HR", []).append(faces.truth_descriptors(hr))
        for name, sr in upscaled.items():
            scores = metrics.per_image(sr, hr) | face_scores.get(name, {})
            if "descriptor" in scores:
                descriptors.setdefault(name, []).append(scores.pop("descriptor"))
            if "identity" in scores:
                scores["same_person"] = (scores["identity"] < metrics.SAME_PERSON).astype(float)
            per_method.setdefault(name, []).append(scores)
    result: dict = {"n_images": n}
    for name, scores in per_method.items():
        result[name] = {key: _mean(np.concatenate([s[key] for s in scores])) for key in scores[0]}
    if "HR" in descriptors:
        gallery = np.concatenate(descriptors.pop("HR"))
        for name, found in descriptors.items():
            result[name]["rank1"] = _mean(metrics.rank1(np.concatenate(found), gallery, people))
        result["identification_ceiling"] = _mean(metrics.rank1(gallery, gallery, people))
    return result


def _mean(values: np.ndarray) -> float | None:
    finite = values[np.isfinite(values)]
    return round(float(np.mean(finite)), 4) if len(finite) else None


def evaluate_pairs(pairs, upscalers: dict[str, Upscaler]) -> dict:
    """Metrics over an iterable of (lr, hr) uint8 batches."""
    return summarize(((upscale_all(np.asarray(lr), upscalers), np.asarray(hr)) for lr, hr in pairs),
                     face_metrics())


def photos_of_split(data_dir: str | Path, split: str = "test", limit: int | None = None) -> list[np.ndarray]:
    """The readable photos of one split of a folder, in file order (the first `limit`)."""
    return photos_and_people(data_dir, split, limit)[0]


def photos_and_people(data_dir: str | Path, split: str = "test", limit: int | None = None
                      ) -> tuple[list[np.ndarray], list[str] | None]:
    """`photos_of_split`, and who each shows when the folder says (`data.people`)."""
    if limit is not None and limit < 1:
        raise UserError(f"--limit must be at least 1, got {limit}")
    files = data.split_files(data.find_images(data_dir), split, data_dir)[:limit]
    if not files:
        raise UserError(f"{data_dir}: no images of the {split!r} split; pick another --split")
    photos, kept = decoding.load_photos(files)
    return photos, data.people(kept, data_dir)


def load_pairs(data_dir: str | Path, degradation: str = "protocol"
               ) -> tuple[list[Path], np.ndarray, np.ndarray]:
    """Every readable image of a folder as (files, LR, HR) uint8 arrays, by a named degradation."""
    photos, files = decoding.load_photos(data.find_images(data_dir))
    return (files, *degrade.pairs(photos, degradation))


def evaluate_photos(photos: list[np.ndarray], upscalers: dict[str, Upscaler],
                    degradation: str = "protocol", seed: int = 0, faces: bool = True,
                    people: list[str] | None = None) -> dict:
    """Metrics of every method on `photos` degraded by `degradation` (seeded per image);
    the face metrics too when dlib is installed, unless `faces` is off (they take most of
    the time: about 60 ms a face and method on one CPU core); identification too when
    `people` says who each photo shows (`summarize`)."""
    def batches():
        for start in range(0, len(photos), BATCH):
            lr, hr = degrade.pairs(photos[start:start + BATCH], degradation, seed, start)
            yield upscale_all(lr, upscalers), hr
    return summarize(batches(), face_metrics() if faces else None, people)


def evaluate(data_dir: str | Path, upscalers: dict[str, Upscaler], split: str = "test",
             limit: int | None = None, degradation: str = "protocol", seed: int = 0) -> dict:
    """`dcgan-sr evaluate`: one degradation of `split`, then metrics per method."""
    photos, people = photos_and_people(data_dir, split, limit)
    return evaluate_photos(photos, upscalers, degradation, seed, people=people)


def robustness(data_dir: str | Path, upscalers: dict[str, Upscaler], split: str = "test",
               limit: int | None = None, degradations=degrade.NAMED, seed: int = 0,
               progress=print) -> dict:
    """`dcgan-sr evaluate --degradation all`: {degradation: evaluate result}."""
    photos, people = photos_and_people(data_dir, split, limit)
    table = {}
    for name in degradations:
        table[name] = evaluate_photos(photos, upscalers, name, seed, people=people)
        progress(f"{name}: done ({len(photos)} images)")
    return table


def degradation_row(photo: np.ndarray, degradation: str, upscalers: dict[str, Upscaler]
                    ) -> dict[str, np.ndarray]:
    """One face under one named degradation, as the robustness figure and the web app show
    it: LR as given (4x, nearest), bicubic, each upscaler, HR."""
    lr, hr = degrade.pairs([photo], degradation)
    row = {"LR as given": plots.nearest(lr, SCALE)[0], "bicubic": interpolate(lr, "bicubic")[0]}
    row.update({name: up.batch(lr)[0] for name, up in upscalers.items()})
    return row | {"HR": hr[0]}


def robustness_rows(photo: np.ndarray, upscalers: dict[str, Upscaler]) -> dict[str, dict[str, np.ndarray]]:
    """One face under every named degradation (`degradation_row` of each)."""
    return {name: degradation_row(photo, name, upscalers) for name in degrade.NAMED}


def format_table(result: dict) -> str:
    """A plain-text table of an evaluate() result, one row per method (with the identity
    and landmark distances when they were measured)."""
    rows = {k: v for k, v in result.items() if k not in ("n_images", "identification_ceiling")}
    faces = "identity" in next(iter(rows.values()))
    ranked = "rank1" in next(iter(rows.values()))
    lines = [f"{'method':<10} {'PSNR RGB':>9} {'SSIM RGB':>9} {'PSNR Y':>8} {'SSIM Y':>8} {'HF ratio':>9}"
             + (f" {'identity':>9} {'same':>6} {'LM px':>6}" if faces else "")
             + (f" {'rank-1':>7}" if ranked else "")
             + f"   ({result['n_images']} images, 4-px border crop)"]
    for name, row in rows.items():
        lines.append(f"{name:<10} {_f(row['psnr_rgb'], 9, 2)} {_f(row['ssim_rgb'], 9, 4)} "
                     f"{_f(row['psnr_y'], 8, 2)} {_f(row['ssim_y'], 8, 4)} "
                     f"{_f(row['hf_ratio'], 9, 3)}"
                     + (f" {_f(row['identity'], 9, 3)} {_f(100 * row['same_person'], 5, 1)}%"
                        f" {_f(row['landmarks'], 6, 2)}" if faces else "")
                     + (f" {_f(100 * row['rank1'], 6, 1)}%" if ranked else ""))
    if ranked:
        lines.append("rank-1: the output's nearest other photo of the split (dlib's face descriptor) "
                     "shows the same person; the true faces' own rank-1: "
                     f"{100 * result['identification_ceiling']:.1f}%")
    return "\n".join(lines)


def _f(value, width: int, digits: int) -> str:
    return f"{'n/a':>{width}}" if value is None or not math.isfinite(value) else f"{value:>{width}.{digits}f}"


def choose_default(table: dict, candidates: list[str]) -> tuple[str | None, dict[str, str]]:
    """The rule the default preset is chosen by, from a robustness table ({degradation:
    evaluate result} with identity distances): of the candidates never below bicubic in
    PSNR on any degradation, the one with the lowest identity distance averaged over the
    degradations. Returns the choice (None when no candidate qualifies) and a reason per
    candidate."""
    reasons, qualified = {}, {}
    for name in candidates:
        below = [d for d, result in table.items()
                 if result[name]["psnr_rgb"] < result["bicubic"]["psnr_rgb"]]
        identity = float(np.mean([result[name]["identity"] for result in table.values()]))
        if below:
            reasons[name] = f"below bicubic in PSNR on {', '.join(below)}"
        else:
            qualified[name] = identity
            reasons[name] = f"never below bicubic; mean identity distance {identity:.3f}"
    choice = min(qualified, key=qualified.get) if qualified else None
    return choice, reasons


def format_choice(table: dict, candidates: list[str]) -> str:
    """The rule's verdict on a robustness table, a line per candidate."""
    choice, reasons = choose_default(table, candidates)
    bicubic = float(np.mean([result["bicubic"]["identity"] for result in table.values()]))
    lines = ["Default by the rule (never below bicubic in PSNR on any degradation, then the "
             f"lowest mean identity distance; bicubic's {bicubic:.3f}): {choice or 'none qualifies'}"]
    lines += [f"  {name}: {why}" for name, why in reasons.items()]
    return "\n".join(lines)


def format_robustness(table: dict, methods: list[str]) -> str:
    """Markdown: one row per degradation; bicubic's PSNR (and identity distance), then each
    method's gain over it (dB), SSIM and HF ratio (and identity distance)."""
    n = next(iter(table.values()))["n_images"]
    faces = "identity" in next(iter(table.values()))["bicubic"]
    ranked = "rank1" in next(iter(table.values()))["bicubic"]
    keys = ("ΔPSNR", "SSIM", "HF") + (("ID",) if faces else ()) + (("R1",) if ranked else ())
    head = ["degradation", "bicubic PSNR"] + (["bicubic ID"] if faces else []) + [
        f"`{m}` {k}" for m in methods for k in keys]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for name, result in table.items():
        bicubic = result["bicubic"]["psnr_rgb"]
        cells = [name, f"{bicubic:.2f}"] + ([_f(result["bicubic"]["identity"], 0, 3)] if faces else [])
        for m in methods:
            row = result[m]
            cells += [f"{row['psnr_rgb'] - bicubic:+.2f}", _f(row["ssim_rgb"], 0, 4),
                      _f(row["hf_ratio"], 0, 3)] + ([_f(row["identity"], 0, 3)] if faces else []) \
                + ([f"{100 * row['rank1']:.1f}%"] if ranked else [])
        lines.append("| " + " | ".join(cells) + " |")
    lines.append(f"\n{n} images; PSNR/SSIM on RGB with a 4-px border crop; ΔPSNR = method − bicubic"
                 + ("; ID: identity distance (dlib's face descriptors of the result and of HR; "
                    "lower is better, below 0.6 the same person)" if faces else "")
                 + (f"; R1: rank-1 identification (the output's nearest other photo of the split "
                    f"is of the same person; the true faces': "
                    f"{100 * next(iter(table.values()))['identification_ceiling']:.1f}%)." if ranked
                    else "."))
    return "\n".join(lines)
