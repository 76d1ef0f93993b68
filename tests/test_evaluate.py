import json

import numpy as np
import pytest

from dcgan_sr import degrade, metrics, pixels
from dcgan_sr.errors import UserError
from dcgan_sr.evaluate import (evaluate, evaluate_pairs, format_robustness, interpolate,
                               robustness, summarize)
from dcgan_sr.models import build_generator
from dcgan_sr.upscaler import Upscaler


def test_evaluate_on_the_sample_matches_direct_computation(sample_dir, sample_files, tiny_config):
    result = evaluate(sample_dir, {"model": Upscaler(build_generator(tiny_config))}, split="test", limit=8)
    assert result["n_images"] == 8
    assert set(result) == {"n_images", "bilinear", "bicubic", "model"}
    faces = {"identity", "landmarks", "same_person"} if metrics.faces_available() else set()
    assert set(result["bicubic"]) == {"psnr_rgb", "ssim_rgb", "psnr_y", "ssim_y", "hf_ratio"} | faces

    photos = [pixels.read_photo(f) for f in sample_files[:8]]
    lr, hr = degrade.pairs(photos, "protocol")
    bicubic = interpolate(lr, "bicubic")
    assert result["bicubic"]["psnr_rgb"] == pytest.approx(metrics.psnr(bicubic, hr).mean(), abs=1e-4)
    assert result["bicubic"]["ssim_y"] == pytest.approx(metrics.ssim(bicubic, hr, y=True).mean(), abs=1e-4)
    assert result["bicubic"]["hf_ratio"] == pytest.approx(
        metrics.high_frequency_ratio(bicubic, hr).mean(), abs=1e-4)
    # Interpolation is blurrier than the truth, bilinear more than bicubic.
    assert result["bilinear"]["hf_ratio"] < result["bicubic"]["hf_ratio"] < 1.0
    # An untrained generator is far worse than bicubic; bicubic beats bilinear on faces.
    assert result["model"]["psnr_rgb"] < result["bicubic"]["psnr_rgb"]
    assert result["bicubic"]["psnr_rgb"] > result["bilinear"]["psnr_rgb"]


def test_evaluate_pairs_averages_per_image_over_batches():
    rng = np.random.default_rng(0)
    hr = rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    hr128 = np.stack([degrade.hr_from_window(x) for x in hr])
    lr = np.stack([degrade.lr_from_hr(x) for x in hr128])
    whole = evaluate_pairs([(lr, hr128)], {})
    split = evaluate_pairs([(lr[:1], hr128[:1]), (lr[1:], hr128[1:])], {})
    assert whole == split


def test_empty_split_is_a_user_error(sample_dir, tiny_config):
    with pytest.raises(UserError, match="no images of the 'train' split"):
        evaluate(sample_dir, {}, split="train")


def test_robustness_table_scores_every_named_degradation(sample_dir, sample_files, tiny_config):
    table = robustness(sample_dir, {"tiny": Upscaler(build_generator(tiny_config))}, limit=4,
                       progress=lambda _: None)
    assert list(table) == list(degrade.NAMED)
    photos = [pixels.read_photo(f) for f in sample_files[:4]]
    lr, hr = degrade.pairs(photos, "jpeg")
    assert table["jpeg"]["bicubic"]["psnr_rgb"] == pytest.approx(
        metrics.psnr(interpolate(lr, "bicubic"), hr).mean(), abs=1e-4)
    text = format_robustness(table, ["tiny"])
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert len(rows) == len(degrade.NAMED) + 1  # the header and one row each
    gain = table["nearest"]["tiny"]["psnr_rgb"] - table["nearest"]["bicubic"]["psnr_rgb"]
    bicubic = table["nearest"]["bicubic"]
    identity = f" {bicubic['identity']:.3f} |" if "identity" in bicubic else ""  # with dlib
    assert f"| nearest | {bicubic['psnr_rgb']:.2f} |{identity} {gain:+.2f} |" in text


def test_a_flat_image_keeps_the_means_finite_and_the_json_valid():
    flat = np.full((2, 128, 128, 3), 90, np.uint8)
    result = summarize([({"same": flat, "off": flat + 1}, flat)])
    assert result["same"]["psnr_rgb"] == metrics.PSNR_CAP
    assert result["same"]["hf_ratio"] is None  # undefined on a flat HR, not NaN
    json.loads(json.dumps(result, allow_nan=False))


def test_limit_below_one_is_a_user_error(sample_dir):
    with pytest.raises(UserError, match="--limit must be at least 1"):
        evaluate(sample_dir, {}, limit=-1)


def test_the_default_is_chosen_by_psnr_against_bicubic_then_identity():
    from dcgan_sr.evaluate import choose_default, format_choice

    def row(psnr, identity):
        return {"psnr_rgb": psnr, "identity": identity}

    table = {"protocol": {"n_images": 3, "bicubic": row(25.0, 0.45), "sharp": row(28.0, 0.30),
                          "safe": row(27.0, 0.40), "safer": row(26.0, 0.42)},
             "nearest": {"n_images": 3, "bicubic": row(24.0, 0.50), "sharp": row(21.0, 0.35),
                         "safe": row(25.0, 0.46), "safer": row(24.5, 0.42)}}
    choice, reasons = choose_default(table, ["sharp", "safe", "safer"])
    assert choice == "safer"  # "sharp" keeps identity best but falls below bicubic on nearest
    assert reasons["sharp"] == "below bicubic in PSNR on nearest"
    assert reasons["safe"] == "never below bicubic; mean identity distance 0.430"
    assert "): safer" in format_choice(table, ["sharp", "safe", "safer"]).splitlines()[0]
    assert choose_default(table, ["sharp"])[0] is None


def test_the_robustness_table_of_flat_faces_prints_na_not_a_traceback(tmp_path, cli):
    """Single-colour faces have no high frequencies: their HF ratio is undefined, in the
    table form too (the JSON form already wrote null)."""
    from PIL import Image

    folder = tmp_path / "flat"
    folder.mkdir()
    for i, colour in enumerate([(90, 90, 90), (200, 30, 30)]):
        Image.new("RGB", (178, 218), colour).save(folder / f"flat{i}.png")
    done = cli("evaluate", "--data", folder, "--split", "all", "--degradation", "all")
    assert done.returncode == 0, done.stderr
    assert "| protocol |" in done.stdout and "n/a" in done.stdout


def test_identification_finds_the_person_among_the_others_photos():
    """rank-1: is the nearest other photo of the split (by face descriptor) one of the same
    person? Its own photo never counts; the truth against itself is the ceiling."""
    from dcgan_sr.metrics import rank1
    gallery = np.array([[0.0, 0], [0.1, 0], [5, 5], [5.1, 5]])
    people = ["a", "a", "b", "b"]
    assert rank1(gallery, gallery, people).tolist() == [1, 1, 1, 1]
    swapped = gallery[[2, 1, 0, 3]]  # outputs 0 and 2 look like the other person
    assert rank1(swapped, gallery, people).tolist() == [0, 1, 0, 1]


def test_evaluate_reports_rank1_where_the_folder_says_who_is_who(tmp_path, sample_files, cli, tiny_weights):
    import shutil
    from dcgan_sr import data
    folder = tmp_path / "faces"
    folder.mkdir()
    for path in sample_files[:6]:
        shutil.copy(path, folder / path.name)
    (tmp_path / "identities.csv").write_text(
        "file,identity\n" + "".join(f"{p.name},{i % 3}\n" for i, p in enumerate(sample_files[:6])))
    assert data.people(sorted(folder.iterdir()), folder) == ["0", "1", "2", "0", "1", "2"]
    result = json.loads(cli("evaluate", "--data", folder, "--weights", tiny_weights, "--json").stdout)
    assert 0 <= result["identification_ceiling"] <= 1
    assert all(0 <= result[m]["rank1"] <= 1 for m in ("bilinear", "bicubic", "generator"))
    table = cli("evaluate", "--data", folder, "--weights", tiny_weights).stdout
    assert "rank-1" in table and "the true faces' own rank-1" in table
    (tmp_path / "identities.csv").unlink()  # no one listed: no identification
    result = json.loads(cli("evaluate", "--data", folder, "--weights", tiny_weights, "--json").stdout)
    assert "identification_ceiling" not in result and "rank1" not in result["bicubic"]
