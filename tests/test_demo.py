import json

from dcgan_sr.demo import run_demo

FILES = ["comparison_grid.png", "comparison_table.png", "training_curves.png", "metrics.png",
         "metrics.json", "metrics.txt"]


def test_demo_writes_figures_and_metrics(tmp_path, sample_dir, sample_files, capsys):
    result = run_demo(sample_dir, tmp_path)
    for name in FILES:
        assert (tmp_path / name).is_file(), name
    assert len(list((tmp_path / "sr").glob("*.png"))) == len(sample_files)
    assert json.loads((tmp_path / "metrics.json").read_text()) == result
    assert set(result) == {"n_images", "bilinear", "bicubic", "mse", "gan"}
    printed = capsys.readouterr().out
    assert (tmp_path / "metrics.txt").read_text().strip() in printed


def test_demo_figures_are_byte_identical_across_runs(tmp_path, sample_dir):
    run_demo(sample_dir, tmp_path / "a")
    run_demo(sample_dir, tmp_path / "b")
    for name in FILES:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
