"""Bursts of identical requests at `dcgan-sr serve`: do all answer whole?

    python benchmarks/app_burst.py [--requests 40] [--bursts 2]

Starts the app on a free port (tests/browser.py), sends the same sample face to /upscale
from N threads at once through gradio_client, checks every result against `Upscaler`, and
counts the errors in the server's log. Before dcgan_sr.app returned files rather than arrays
to Gradio, identical results at once truncated each other's downloads (h11's
LocalProtocolError "Too little data for declared Content-Length"; 4 in two bursts of 40).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import browser  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--bursts", type=int, default=2)
    args = parser.parse_args()
    from gradio_client import Client, handle_file

    from dcgan_sr import Upscaler
    folder = Path(tempfile.mkdtemp(prefix="app-burst-"))
    face = browser.sample_lr(folder)
    expected = Upscaler()(np.asarray(Image.open(face)))
    wrong = failed = refused = 0
    with browser.app_server(tmpdir=folder) as (url, process):
        for burst in range(args.bursts):
            client = Client(url, verbose=False)
            start = time.perf_counter()
            with ThreadPoolExecutor(args.requests) as pool:
                jobs = [pool.submit(client.predict, handle_file(str(face)), "real", 4,
                                    api_name="/upscale") for _ in range(args.requests)]
                for job in jobs:
                    try:
                        _, download, _ = job.result(timeout=900)
                        wrong += not np.array_equal(np.asarray(Image.open(download)), expected)
                    except Exception as error:  # noqa: BLE001 - counted and shown
                        if "Queue is full" in str(error):  # by design: app.QUEUE_SIZE waiting
                            refused += 1
                            continue
                        failed += 1
                        print(f"request failed: {type(error).__name__}: {error}")
            print(f"burst {burst + 1}: {args.requests} requests in "
                  f"{time.perf_counter() - start:.1f} s; server up: {process.poll() is None}")
        log = browser.server_log(process)
    protocol_errors = log.count("LocalProtocolError")
    print(f"{args.bursts * args.requests} requests: {refused} refused with 'Queue is full' (more "
          f"than the app's queue holds), {failed} failed, {wrong} wrong results, "
          f"{protocol_errors} LocalProtocolError in the server log")
    return 1 if failed or wrong or protocol_errors else 0


if __name__ == "__main__":
    sys.exit(main())
