"""The README's Python example runs as written (from the repository root)."""

import os
import re

from PIL import Image

from conftest import REPO


def test_the_readme_api_example_runs(monkeypatch):
    readme = (REPO / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    example = next(b for b in blocks if "Upscaler" in b)
    monkeypatch.chdir(REPO)
    scope = {}
    exec(compile(example, "README.md", "exec"), scope)
    assert scope["big"].size == (712, 872)  # a 178x218 photo, 4x
    assert scope["bigger"].size == (1424, 1744)
    assert [f.size for f in scope["faces"]] == [(712, 872)] * 2
    assert isinstance(scope["faces"][0], Image.Image)
    assert os.getcwd() == str(REPO)
