import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dcgan_sr import degrade, pixels
from dcgan_sr.demo import run_demo
from dcgan_sr.presets import DEFAULT_PRESET
from dcgan_sr.upscaler import Upscaler

FILES = ["comparison_grid.png", "robustness.png", "comparison_table.png", "training_curves.png",
         "metrics.png", "metrics.json", "metrics.txt"]


@pytest.fixture(scope="module")
def first_demo(tmp_path_factory, sample_dir):
    """One demo run on the bundled sample: (its folder, what it returned, what it printed)."""
    out = tmp_path_factory.mktemp("demo")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        result = run_demo(sample_dir, out)
    return out, result, printed.getvalue()


def test_demo_writes_figures_and_metrics(first_demo, sample_files):
    out, result, printed = first_demo
    for name in FILES:
        assert (out / name).is_file(), name
    assert len(list((out / "sr").glob("*.png"))) == len(sample_files)
    assert json.loads((out / "metrics.json").read_text()) == result
    assert set(result) == {"n_images", "bilinear", "bicubic", "mse", "gan", "real"}
    assert (out / "metrics.txt").read_text().strip() in printed


def test_demo_figures_are_byte_identical_across_runs(first_demo, tmp_path, sample_dir):
    run_demo(sample_dir, tmp_path)
    for name in FILES:
        assert (first_demo[0] / name).read_bytes() == (tmp_path / name).read_bytes(), name


# The README's figures that `make figures` copies from the demo's output into images/.
README_FIGURES = ["comparison_grid.png", "comparison_table.png", "training_curves.png", "metrics.png",
                  "robustness.png"]


def test_committed_figures_are_what_the_demo_draws(first_demo):
    """images/ holds what `make figures` draws now, bit for bit: a change of code, weights
    or a pinned package (requirements.lock) that moves a pixel fails here until the figures
    are rebuilt and committed."""
    images = Path(__file__).resolve().parents[1] / "images"
    drifted = [name for name in README_FIGURES
               if (first_demo[0] / name).read_bytes() != (images / name).read_bytes()]
    assert not drifted, f"run `make figures` and commit images/: {drifted} changed"


def test_outputs_are_keyed_by_their_own_input(tmp_path, sample_files):
    """An unreadable file and one stem in two subfolders: each output is named after the
    face it came from, none overwrites another."""
    folder = tmp_path / "faces"
    (folder / "a").mkdir(parents=True)
    (folder / "b").mkdir()
    (folder / "0_broken.jpg").write_text("not an image")
    (folder / "a" / "face.jpg").write_bytes(sample_files[0].read_bytes())
    (folder / "b" / "face.jpg").write_bytes(sample_files[1].read_bytes())
    (folder / "z.jpg").write_bytes(sample_files[2].read_bytes())
    result = run_demo(folder, tmp_path / "out")
    assert result["n_images"] == 3
    written = sorted(p.name for p in (tmp_path / "out" / "sr").iterdir())
    assert written == ["a__face.png", "b__face.png", "z.png"]
    lr, _ = degrade.pairs([pixels.read_photo(sample_files[2])], "protocol")
    expected = Upscaler(DEFAULT_PRESET)(lr[0])
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out" / "sr" / "z.png")), expected)


def test_the_perception_distortion_figure_is_drawn_from_the_kept_table(tmp_path):
    """make figures draws images/perception_distortion.png from the kept JSON of the README's
    robustness table: the committed figure is what that draws now, bit for bit."""
    import re

    from dcgan_sr import plots

    repo = Path(__file__).resolve().parents[1]
    table = re.search(r"ROBUSTNESS_JSON := (\S+)", (repo / "Makefile").read_text()).group(1)
    drawn = plots.perception_distortion(json.loads((repo / table).read_text()), tmp_path / "pd.png")
    assert drawn.read_bytes() == (repo / "images" / "perception_distortion.png").read_bytes()
