"""The package as most users install it from a repository: a built wheel, not the editable
install that `make` does. Its demo must find the bundled faces and weights inside the
installed package, run from a folder outside the checkout."""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_a_wheel_install_runs_the_demo_outside_the_checkout(tmp_path):
    source = tmp_path / "source"  # pip builds in the tree: a copy keeps the checkout clean
    shutil.copytree(REPO / "src", source / "src",
                    ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", tmp_path / "dist", source], check=True, capture_output=True)
    wheel, = (tmp_path / "dist").glob("dcgan_sr-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert len([n for n in names if n.startswith("dcgan_sr/sample/")]) == 64
    assert {f"dcgan_sr/weights/{p}.weights.h5" for p in ("mse", "gan", "real")} <= set(names)

    site = tmp_path / "site"  # the wheel alone on the path; its dependencies from this venv
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", site,
                    wheel], check=True, capture_output=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = dict(os.environ, PYTHONPATH=str(site))
    where = subprocess.run([sys.executable, "-c", "import dcgan_sr.data as d; print(d.SAMPLE_DIR)"],
                           cwd=elsewhere, env=env, capture_output=True, text=True, check=True)
    assert Path(where.stdout.strip()) == site / "dcgan_sr" / "sample"
    demo = subprocess.run([sys.executable, "-m", "dcgan_sr.cli", "demo", "--out", "demo"],
                          cwd=elsewhere, env=env, capture_output=True, text=True, timeout=600)
    assert demo.returncode == 0, demo.stderr[-2000:]
    assert len(list((elsewhere / "demo" / "sr").glob("*.png"))) == 64
