"""The web app (`dcgan-sr serve`) in a real headless Chromium, driven by Selenium: for the
browser tests (tests/test_app.py) and `make screenshot`.

    python tests/browser.py --screenshot images/app.png

Uses Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver);
Selenium is pointed at them, so it downloads nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
REPO = Path(__file__).resolve().parents[1]


def missing() -> str | None:
    """Why the app cannot be tried in a browser here, or None."""
    for module, install in (("gradio", "pip install -r requirements-app.txt"),
                            ("selenium", "pip install -r requirements-app.txt")):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed ({install})"
    for program in (CHROMIUM, CHROMEDRIVER):
        if not Path(program).is_file():
            return f"{program} not found (apt-get install -y chromium chromium-driver)"
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def app_server(timeout: float = 240, tmpdir: Path | None = None):
    """`dcgan-sr serve` on a free loopback port (its temporary files in `tmpdir` if given):
    (its URL, its process), stopped by SIGTERM on exit."""
    port = free_port()
    log = tempfile.TemporaryFile(mode="w+")
    env = dict(os.environ, **({"TMPDIR": str(tmpdir)} if tmpdir else {}))
    process = subprocess.Popen([sys.executable, "-m", "dcgan_sr.cli", "serve", "--port", str(port)],
                               stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env=env)
    process.log_file = log
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + timeout
        while not _answers(url):
            if process.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                raise RuntimeError(f"dcgan-sr serve did not start:\n{log.read()[-3000:]}")
            time.sleep(0.5)
        yield url, process
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def server_log(process) -> str:
    """What the server of `app_server` has printed so far (read without moving the offset
    it writes at)."""
    fd = process.log_file.fileno()
    return os.pread(fd, os.fstat(fd).st_size, 0).decode(errors="replace")


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


@contextlib.contextmanager
def chromium(width: int = 1280, height: int = 1100):
    """A headless Chromium with no network of its own beyond loopback (the flags keep it
    from calling home, which this machine's closed network would refuse)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-quic", f"--window-size={width},{height}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def upscale_in_page(driver, url: str, image: Path, timeout: float = 180) -> None:
    """Open the app, upload `image`, press Upscale (the result or an error then appears)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as shown
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    wait = WebDriverWait(driver, timeout)
    wait.until(shown.presence_of_element_located((By.CSS_SELECTOR, "#upload input[type=file]"))
               ).send_keys(str(image))
    wait.until(lambda d: image.stem in d.find_element(By.ID, "upload").text)  # uploaded
    driver.find_element(By.ID, "upscale-button").click()


def result_link(driver, timeout: float = 180) -> str:
    """The address of the PNG the page offers for download, once the result is there."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as shown
    from selenium.webdriver.support.ui import WebDriverWait

    link = WebDriverWait(driver, timeout).until(
        shown.presence_of_element_located((By.CSS_SELECTOR, "#result-file a[href]")))
    return link.get_attribute("href")


def page_text_with(driver, fragment: str, timeout: float = 120) -> str:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(lambda d: fragment in d.find_element(By.TAG_NAME, "body").text)
    return driver.find_element(By.TAG_NAME, "body").text


def sample_lr(folder: Path, index: int = 0) -> Path:
    """The `index`-th bundled sample face as the protocol makes it small (32x32), as a PNG."""
    import numpy as np
    from PIL import Image

    from dcgan_sr import data, degrade, pixels

    files = data.find_images(data.SAMPLE_DIR)
    lr, _ = degrade.pairs([pixels.read_photo(files[index])], "protocol")
    path = folder / f"{files[index].stem}_lr32.png"
    Image.fromarray(np.asarray(lr[0])).save(path)
    return path


def screenshot(out: Path) -> None:
    """The app after upscaling the first sample face, as `out` (PNG)."""
    reason = missing()
    if reason:
        sys.exit(f"screenshot: {reason}")
    with tempfile.TemporaryDirectory() as tmp, app_server() as (url, _), chromium() as driver:
        upscale_in_page(driver, url, sample_lr(Path(tmp)))
        result_link(driver)
        time.sleep(1)  # let the slider's images finish drawing
        out.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(out))
    print(f"wrote {out}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screenshot", type=Path, required=True, help="PNG to write")
    screenshot(parser.parse_args().screenshot)
