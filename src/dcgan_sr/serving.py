"""`dcgan-sr serve`: what it sets up before Gradio is imported (the web app is
`dcgan_sr.app`), and its stop.

The port is checked, then one folder per server is made to hold every file the server and
its libraries write (uploads, results, Gradio's cache, TensorFlow's generated code): removed
on exit, or at the next start when the server was killed. Gradio reads where to write when
it is imported, hence this room. SIGTERM stops it as Ctrl-C does, from the first moment:
also during the imports and start-up, and even when a library swallows the interrupt."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from pathlib import Path

from dcgan_sr.errors import UserError
from dcgan_sr.io import process_alive

FOLDER_PREFIX = "dcgan-sr-app-"


def serve(host: str = "127.0.0.1", port: int = 7860, runtime: str = "auto") -> None:
    check_can_listen(host, port)
    stopping = threading.Event()

    def stop(signum, frame):
        stopping.set()
        raise KeyboardInterrupt  # as Ctrl-C: Gradio closes its server, then we clean up

    previous = signal.signal(signal.SIGTERM, stop)
    folder = app_folder()
    try:
        keep_temporary_files_in(folder)
        from dcgan_sr import app
        app.run(folder, stopping, host, port, runtime)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the way a server is stopped
        pass
    finally:
        stopping.set()
        signal.signal(signal.SIGTERM, previous)
        shutil.rmtree(folder, ignore_errors=True)
        print("dcgan-sr: stopped; removed the uploads and results", flush=True)


def check_can_listen(host: str, port: int) -> None:
    """UserError naming the flag to change when `host`:`port` cannot be listened on."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as error:
        raise UserError(f"--host {host}: not a name or address of this machine ({error.strerror});"
                        " use 127.0.0.1 (this machine only) or 0.0.0.0 (every network)") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does
        try:
            probe.bind(address)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise UserError(f"port {port} is in use on {host}; pass another --port (e.g. "
                                f"--port {port + 1 if port < 65535 else 7860})") from None
            raise UserError(f"cannot listen on {host}:{port} ({error.strerror}); pass --host "
                            "127.0.0.1 (this machine only) or another --host") from None


def app_folder(parent: str | Path | None = None) -> Path:
    """A new folder for one server's files (holding the server's PID), after removing those
    of servers that no longer run."""
    parent = Path(parent or tempfile.gettempdir())
    for folder in parent.glob(FOLDER_PREFIX + "*"):
        if folder.is_dir() and not _server_alive(folder):
            shutil.rmtree(folder, ignore_errors=True)
    folder = Path(tempfile.mkdtemp(prefix=FOLDER_PREFIX, dir=parent))
    (folder / "pid").write_text(str(os.getpid()))
    return folder


def keep_temporary_files_in(folder: Path) -> None:
    """Every temporary file of this process from now on in `folder`: Gradio's (its cache,
    uploads and session files), TensorFlow's generated code, Python's tempfile. The folder
    is the temporary folder itself: Gradio serves only files below it (the app's results)."""
    os.environ["GRADIO_TEMP_DIR"] = str(folder / "gradio")
    os.environ["TMPDIR"] = str(folder)
    tempfile.tempdir = str(folder)


def _server_alive(folder: Path) -> bool:
    try:
        pid = int((folder / "pid").read_text())
    except (OSError, ValueError):  # no PID: an older version's folder, or one being made
        return time.time() - folder.stat().st_mtime < 86400
    return process_alive(pid)
