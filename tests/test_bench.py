"""benchmarks/bench.py runs end to end and writes the JSON the performance issue specifies
(a tiny model, one step: this checks the table's shape, not any speed)."""

import json
import subprocess
import sys

import pytest
from PIL import Image

from conftest import REPO


def test_bench_writes_every_key_of_the_table(tmp_path, tiny_config):
    tiny_config.save(tmp_path / "tiny.json")
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "bench.py"), "--config", tmp_path / "tiny.json",
         "--batch", "2", "--steps", "1", "--rounds", "1", "--images", "16",
         "--seconds", "0.5", "--json", tmp_path / "bench.json"],
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    row = json.loads((tmp_path / "bench.json").read_text())
    assert row["backend"] == "tensorflow" and row["device"]
    assert set(row["train_img_s"]) == {"eager", "function", "function_mixed", "xla", "xla_mixed",
                                       "function_keras_layers", "jax_xla", "jax_xla_mixed"}
    assert row["cpu"]["model"] and row["cpu"]["cores"] >= 1 and isinstance(row["cpu"]["flags"], list)
    for name, fraction in row["train_peak_fraction"].items():  # the JAX rows measured too
        assert 0 < fraction < 1.5, name
    assert set(row["pipeline_img_s"]) == {"jpeg", "prepared", "tfrecord", "realistic"}
    assert set(row["gflop_per_image"]) == {"generator", "discriminator", "train_step"}
    # the tiny config's step: the seed's order and BCE, so 4 G and 8 D forwards' worth
    assert row["gflop_per_image"]["train_step"] == pytest.approx(
        4 * row["gflop_per_image"]["generator"] + 8 * row["gflop_per_image"]["discriminator"])
    assert row["peak_mixed_gflops"] > 0
    speeds = [*row["train_img_s"].values(), *row["pipeline_img_s"].values(),
              row["upscale_img_s"], row["bicubic_img_s"], row["peak_gflops"]]
    assert all(isinstance(v, float) and v > 0 for v in speeds)
    assert 0 < row["upscale_peak_fraction"] < 1.5
    for route in ("jax", "onnx"):  # the other CPU routes, measured in the same run
        assert row[f"upscale_{route}_img_s"] > 0 and 0 < row[f"upscale_{route}_peak_fraction"] < 1.5
    assert row["train_ratio_to_eager"]["eager"] == 1.0


def test_upscale_speed_prints_each_generators_rate_and_its_ratio_to_the_first():
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "upscale_speed.py"), "--weights", "mse,real",
         "--runtime", "keras", "--rounds", "1", "--batch", "4"],
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    speeds = json.loads(lines[-1])["img_s"]
    assert set(speeds) == {"mse", "real"} and all(v > 0 for v in speeds.values())
    assert lines[0].split()[0] == "mse" and lines[0].endswith("1.00x the first")
    assert f"{speeds['real'] / speeds['mse']:5.2f}x" in lines[1]


def test_by_eye_draws_each_generator_beside_bicubic_and_the_truth_with_its_distances(tmp_path):
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "by_eye.py"), "--weights", "mse,real",
         "--names", "a,b", "--faces", "2", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = {line.split()[0]: line for line in done.stdout.splitlines() if " ID " in line}
    assert set(rows) == {"bicubic", "a", "b"}
    assert all(len(line.split("LM")[1].split()) == 2 for line in rows.values())
    for name in ("strip.png", "eyes.png"):
        assert Image.open(tmp_path / name).size[0] > 4 * 128 / 2, name


def test_by_eye_refuses_names_that_do_not_match_the_weights(tmp_path):
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "by_eye.py"), "--weights", "mse,real",
         "--names", "a", "--out", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 2 and "one name per --weights entry" in done.stderr
    assert not any(tmp_path.iterdir())


def _scored(bicubic_psnr, **methods):
    """A robustness JSON of two rows, as `evaluate --degradation all --json` writes it."""
    def row(psnr, identity, lm):
        return {"psnr_rgb": psnr, "ssim_rgb": 0.8, "hf_ratio": 0.1, "identity": identity,
                "landmarks": lm, "rank1": 0.9}
    return {name: {"n_images": 2, "identification_ceiling": 1.0,
                   "bicubic": row(bicubic_psnr, 0.5, 1.0),
                   **{m: row(*values) for m, values in methods.items()}}
            for name in ("protocol", "jpeg")}


def test_candidates_puts_separate_runs_in_one_table_and_verdict(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps(_scored(25.0, model1=(26.0, 0.48, 0.7))))
    (tmp_path / "b.json").write_text(json.dumps(_scored(25.0, model1=(26.5, 0.46, 0.8),
                                                        model2=(24.0, 0.40, 0.6))))
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "candidates.py"), f"{tmp_path}/a.json:model1=old",
         f"{tmp_path}/b.json:model1=new,model2=sharp"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| protocol | 25.00 | 0.500 | +1.00 |" in done.stdout and "| -1.00 |" in done.stdout
    assert "lowest mean identity distance; bicubic's 0.500): new" in done.stdout
    assert "sharp: below bicubic in PSNR on protocol, jpeg" in done.stdout
    assert "  new: 0.800 / 0.800" in done.stdout


def test_candidates_refuses_runs_of_different_faces(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps(_scored(25.0, model1=(26.0, 0.48, 0.7))))
    (tmp_path / "b.json").write_text(json.dumps(_scored(24.0, model1=(26.5, 0.46, 0.8))))
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "candidates.py"), f"{tmp_path}/a.json:model1=x",
         f"{tmp_path}/b.json:model1=y"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "bicubic differs" in done.stderr and "Traceback" not in done.stderr
