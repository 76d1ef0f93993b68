"""The web app as a person uses it: `dcgan-sr serve` in a real headless Chromium
(tests/browser.py), and five requests at once through gradio_client.

Without Gradio, Selenium or Chromium these tests are skipped with the reason, except under
CI=true (.ci/run installs all three), where they fail."""

import os
import urllib.request

import numpy as np
import pytest
from PIL import Image

import browser
from conftest import assert_one_line_error


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    reason = browser.missing()
    if reason:
        (pytest.fail if os.environ.get("CI") == "true" else pytest.skip)(f"web app: {reason}")
    with browser.app_server() as (url, process):
        yield url, process


@pytest.fixture(scope="module")
def face(tmp_path_factory):
    """A sample face at 32x32, and what `Upscaler` (the default preset) makes of it."""
    from dcgan_sr import Upscaler
    path = browser.sample_lr(tmp_path_factory.mktemp("face"))
    return path, Upscaler()(np.asarray(Image.open(path)))


@pytest.fixture(scope="module")
def page(app):
    with browser.chromium() as driver:
        yield driver


def test_the_page_offers_exactly_the_upscalers_output(app, page, face, tmp_path):
    path, expected = face
    browser.upscale_in_page(page, app[0], path)
    with urllib.request.urlopen(browser.result_link(page), timeout=60) as response:
        (tmp_path / "download.png").write_bytes(response.read())
    offered = np.asarray(Image.open(tmp_path / "download.png"))
    assert offered.shape == (128, 128, 3) and np.array_equal(offered, expected)
    assert "32×32 → 128×128 in" in page.find_element("id", "timing").text


def test_a_text_file_named_png_gets_a_message_in_the_page(app, page, tmp_path):
    (tmp_path / "notes.png").write_text("this is not an image")
    browser.upscale_in_page(page, app[0], tmp_path / "notes.png")
    text = browser.page_text_with(page, "notes.png: not a readable image")
    assert "Traceback" not in text


def test_five_requests_at_once_all_answer_and_the_server_stays_up(app, face):
    from gradio_client import Client, handle_file
    url, process = app
    path, expected = face
    client = Client(url, verbose=False)
    jobs = [client.submit(handle_file(str(path)), "real", 4, api_name="/upscale") for _ in range(5)]
    results = [job.result(timeout=600) for job in jobs]
    for _, download, timing in results:
        assert np.array_equal(np.asarray(Image.open(download)), expected), timing
    assert process.poll() is None and browser._answers(url)


def test_serve_without_gradio_is_one_line(cli, monkeypatch):
    import importlib.util
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "gradio" else find_spec(name, *a))
    assert_one_line_error(cli("serve"), "serve needs Gradio: pip install -r requirements-app.txt")


def test_the_degradation_tab_shows_each_method_with_its_psnr(app, sample_files):
    from gradio_client import Client
    from dcgan_sr import degrade, metrics
    from dcgan_sr.evaluate import interpolate
    gallery = Client(app[0], verbose=False).predict(sample_files[0].name, "jpeg", api_name="/compare")
    captions = [item["caption"] for item in gallery]
    assert captions[0].startswith("LR as given") and captions[-1] == "truth (HR)"
    assert [c.split(":")[0] for c in captions[1:-1]] == ["bicubic", "mse", "gan", "real"]
    lr, hr = degrade.pairs([degrade.read_photo(sample_files[0], 10 ** 8)], "jpeg")
    assert captions[1] == f"bicubic: {float(metrics.psnr(interpolate(lr, 'bicubic'), hr)[0]):.2f} dB"
