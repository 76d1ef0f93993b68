"""The web app as a person uses it: `dcgan-sr serve` in a real headless Chromium
(tests/browser.py), and five requests at once through gradio_client.

Without Gradio, Selenium or Chromium these tests are skipped with the reason, except under
CI=true (.ci/run installs all three), where they fail."""

import os
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import browser
from dcgan_sr import serving
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
    from dcgan_sr import degrade, metrics, pixels
    from dcgan_sr.evaluate import interpolate
    gallery = Client(app[0], verbose=False).predict(sample_files[0].name, "jpeg", api_name="/compare")
    captions = [item["caption"] for item in gallery]
    assert captions[0].startswith("LR as given") and captions[-1] == "truth (HR)"
    assert [c.split(":")[0] for c in captions[1:-1]] == ["bicubic", "mse", "gan", "real"]
    lr, hr = degrade.pairs([pixels.read_photo(sample_files[0])], "jpeg")
    bicubic = interpolate(lr, "bicubic")
    identity = metrics.FaceMetrics().scores({"bicubic": bicubic}, hr)["bicubic"]["identity"][0]
    assert captions[1] == (f"bicubic: {float(metrics.psnr(bicubic, hr)[0]):.2f} dB, "
                           f"identity {identity:.3f}")


@pytest.fixture(scope="module")
def gradio_app():
    """dcgan_sr.app, importable only with Gradio (required under CI=true)."""
    if os.environ.get("CI") == "true":
        import dcgan_sr.app as app
        return app
    pytest.importorskip("gradio")
    import dcgan_sr.app as app
    return app


def test_work_per_request_is_bounded_with_a_message_naming_the_file(gradio_app):
    import gradio as gr
    gradio_app.check_work("face.png", 32, 32, 4)  # what the app is for
    gradio_app.check_work("face.png", 256, 256, 8)  # the largest: 2048x2048 out
    for width, height, scale in ((512, 512, 8), (257, 256, 1), (1024, 65, 2)):
        with pytest.raises(gr.Error, match=r"flat.png: .* `dcgan-sr upscale`"):
            gradio_app.check_work("flat.png", width, height, scale)
    for scale in (float("nan"), float("inf"), 0, 9, "4", True):
        with pytest.raises(gr.Error, match="Output scale must be a number from 1 to 8"):
            gradio_app.check_work("face.png", 32, 32, scale)


def test_errors_name_the_users_file_and_results_do_not_pile_up(gradio_app, tmp_path, face):
    import gradio as gr
    session = gradio_app.Session(serving.app_folder(tmp_path))
    upload = tmp_path / "gradio" / "0123abcd" / "notes.png"  # as Gradio stores an upload
    upload.parent.mkdir(parents=True)
    upload.write_text("this is not an image")
    with pytest.raises(gr.Error) as error:
        session.upscale(str(upload), "real", 4)
    assert str(error.value.message).startswith("notes.png: not a readable image")
    assert str(upload.parent) not in str(error.value.message)
    for scale in (4, 2, 3):
        slider, result, _ = session.upscale(str(face[0]), "real", scale)
        assert Path(result).is_file()
    # Files, not arrays, for Gradio to copy atomically (benchmarks/app_burst.py says why).
    assert all(Path(image).is_file() for image in slider)
    assert all(Path(image).is_file() for image, _ in session.compare(next(iter(session.photos)),
                                                                      "jpeg"))
    assert sorted(p.name for p in (session.results / "upscale").iterdir()) == sorted(
        ["bicubic.png", Path(result).name])
    for call in (lambda: session.upscale(str(face[0]), "evil", 4),
                 lambda: session.compare("no-such-face.jpg", "jpeg"),
                 lambda: session.compare(next(iter(session.photos)), "rot13")):
        with pytest.raises(gr.Error, match="must be one of"):
            call()


def test_stale_app_folders_are_removed_at_start_and_live_ones_kept(tmp_path):
    import subprocess
    import sys
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)
    stale = tmp_path / "dcgan-sr-app-stale"
    (stale / "results").mkdir(parents=True)
    (stale / "pid").write_text(finished.stdout.strip())
    live = tmp_path / "dcgan-sr-app-live"
    live.mkdir()
    (live / "pid").write_text(str(os.getpid()))
    mine = tmp_path / "my-own-folder"
    mine.mkdir()
    folder = serving.app_folder(tmp_path)
    assert not stale.exists() and live.is_dir() and mine.is_dir()
    assert (folder / "pid").read_text() == str(os.getpid())


def test_serve_says_which_flag_to_change_when_it_cannot_listen(gradio_app, cli):
    import socket
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert_one_line_error(cli("serve", "--port", port), f"port {port} is in use",
                              "pass another --port")
    assert_one_line_error(cli("serve", "--host", "no-such-host.invalid"),
                          "--host no-such-host.invalid: not a name or address of this machine")
    assert_one_line_error(cli("serve", "--host", "192.0.2.1"),  # TEST-NET: not this machine's
                          "cannot listen on 192.0.2.1", "--host")


def test_sigterm_stops_the_server_and_removes_its_uploads_and_results(app, face, tmp_path):
    from gradio_client import Client, handle_file
    with browser.app_server(tmpdir=tmp_path) as (url, process):
        folder, = tmp_path.glob("dcgan-sr-app-*")
        client = Client(url, verbose=False)
        for _ in range(2):
            client.predict(handle_file(str(face[0])), "real", 4, api_name="/upscale")
        assert len(list((folder / "results" / "upscale").iterdir())) == 2  # result, bicubic
        assert any((folder / "gradio").rglob(face[0].name))  # the upload, in the app's folder
    assert process.returncode == 0 and not folder.exists()
    # nothing left beside it either: Gradio's cache and session files, TensorFlow's generated code
    assert not list(tmp_path.iterdir()), list(tmp_path.iterdir())


def test_a_large_upload_is_refused_from_its_header_before_it_is_decoded(gradio_app, tmp_path,
                                                                        monkeypatch):
    import gradio as gr
    from dcgan_sr import app as module
    session = gradio_app.Session(serving.app_folder(tmp_path))
    big = tmp_path / "big.png"
    Image.new("RGB", (3000, 3000)).save(big)  # under the CLI's limit, over the app's
    monkeypatch.setattr(module, "read_image", lambda *a: pytest.fail("decoded"))
    with pytest.raises(gr.Error, match=r"big.png: 3000×3000 is more than this app upscales"):
        session.upscale(str(big), "real", 2)


def test_the_api_gets_the_apps_message_for_a_scale_that_is_not_a_number(gradio_app):
    """The output scale sent as the string "4" failed inside Gradio's slider, with no message."""
    import gradio as gr
    scale = gradio_app.output_scale_slider()
    assert scale.preprocess(2.5) == 2.5
    for bad in ("4", None, True, [4]):
        with pytest.raises(gr.Error, match="Output scale must be a number from 1 to 8"):
            scale.preprocess(bad)


def test_uploads_are_bounded_by_size_oldest_first(gradio_app, tmp_path):
    """Uploads that are never upscaled were kept for the 10 minutes of their lifetime,
    however many came."""
    for i in range(6):
        path = tmp_path / f"{i:02d}abcd" / "upload.png"
        path.parent.mkdir()
        path.write_bytes(bytes(1000))
        os.utime(path, (1000 + i, 1000 + i))
    deleted = gradio_app.bound_uploads(tmp_path, limit=2500)
    assert sorted(p.parent.name for p in deleted) == ["00abcd", "01abcd", "02abcd", "03abcd"]
    assert sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file()) <= 2500


def test_sigterm_during_start_up_stops_the_server(tmp_path):
    """SIGTERM a few seconds into start-up was sometimes swallowed by a library's cleanup
    ("Exception ignored in ... KeyboardInterrupt"), and the server went on serving."""
    import signal
    import subprocess
    import sys
    import time
    if browser.missing() and os.environ.get("CI") != "true":
        pytest.skip(f"web app: {browser.missing()}")
    for delay in (1.0, 3.0, 6.0):
        env = dict(os.environ, TMPDIR=str(tmp_path))
        process = subprocess.Popen([sys.executable, "-m", "dcgan_sr.cli", "serve", "--port",
                                    str(browser.free_port())], env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob("dcgan-sr-app-*")) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(delay)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=120)
        assert process.returncode == 0, output
        assert "stopped; removed the uploads and results" in output
        assert not list(tmp_path.glob("dcgan-sr-app-*")), output


def test_a_scale_sent_as_text_through_the_api_gets_the_apps_message(app, face):
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError
    with pytest.raises(AppError, match="Output scale must be a number from 1 to 8"):
        Client(app[0], verbose=False).predict(handle_file(str(face[0])), "real", "4",
                                               api_name="/upscale")
