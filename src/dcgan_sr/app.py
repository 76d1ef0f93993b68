"""`dcgan-sr serve`: a local web app (Gradio) for trying the presets on your own images.

Tab "Upscale": an image (uploaded, or one of the bundled sample faces at 32x32), a preset
and a final scale; the result beside bicubic on a slider, the PNG to download, the time.
Tab "What degradation does": a sample face under one named degradation (dcgan_sr.degrade),
as LR, bicubic, each preset and the truth, with PSNR under each, and the identity distance
to the truth when dlib is installed (the [faces] extra; dcgan_sr.metrics.FaceMetrics).

Every image goes through `dcgan_sr.Upscaler`, as from Python and the CLI. One request runs
at a time (Gradio's queue): a burst waits instead of exhausting memory. Each request's work
is bounded (MAX_INPUT_PIXELS in, at most 8 times larger out; larger images belong to
`dcgan-sr upscale`), and so is the disk: every file the server and its libraries write lives
in one folder per server (`dcgan_sr.serving`: dcgan-sr-app-* in the system's temporary
folder); results are deleted at the next request, uploads after FILE_LIFETIME seconds or,
oldest first, as soon as they hold more than MAX_KEPT_BYTES; the folder on exit (Ctrl-C or
SIGTERM) or, if the server was killed, at the next start. `dcgan_sr.serving.serve` starts it.
"""

from __future__ import annotations

import shutil
import threading
import time
import warnings
from pathlib import Path

import gradio as gr
from PIL import Image

from dcgan_sr import data, decoding, degrade, metrics
from dcgan_sr.evaluate import degradation_row
from dcgan_sr.pixels import UnreadableImage, read_image
from dcgan_sr.presets import DEFAULT_PRESET, PRESETS
from dcgan_sr.runtime import device_name
from dcgan_sr.upscaler import Upscaler

MAX_UPLOAD = "10mb"
SAMPLE_FACES = 8
QUEUE_SIZE = 32  # requests waiting beyond this are refused with a message
MAX_INPUT_PIXELS = 256 * 256  # per request: the network's output is 16 times this
FILE_LIFETIME = 600  # seconds an upload stays on the server (checked every minute)
MAX_KEPT_BYTES = 100 * 2 ** 20  # uploads kept at once, oldest deleted first (checked every second)


class Session:
    """What the app's handlers share: the loaded presets, the sample faces, a folder for results."""

    def __init__(self, folder: Path, sample_dir: str | Path = data.SAMPLE_DIR,
                 runtime: str = "auto"):
        self.upscalers = {name: Upscaler(name, runtime=runtime) for name in PRESETS}
        photos, files = decoding.load_photos(data.find_images(sample_dir))
        self.photos = {f.name: p for f, p in zip(files[:SAMPLE_FACES], photos)}
        self.folder = folder
        self.results = folder / "results"
        self.results.mkdir(exist_ok=True)
        self.device = device_name()
        self.faces = metrics.FaceMetrics() if metrics.faces_available() else None
        self.examples = []  # the sample faces' protocol LR (32x32), as files to upload
        lr, _ = degrade.pairs(list(self.photos.values()), "protocol")
        for name, face in zip(self.photos, lr):
            path = self.folder / f"{Path(name).stem}_lr32.png"
            Image.fromarray(face).save(path)
            self.examples.append(str(path))

    def upscale(self, path: str | None, preset: str, outscale: float):
        """(bicubic, result) for the slider, the result's PNG, and what it took."""
        if not path:
            raise gr.Error("Upload an image first, or pick a sample face below.")
        _check_choice("Preset", preset, self.upscalers)
        name = Path(path).name  # the user's file name (Gradio keeps it), not the server's path
        check_work(name, *_header_size(path, name), outscale)  # before anything is decoded
        try:
            image, _ = read_image(Path(path))
        except UnreadableImage as error:
            raise gr.Error(f"{name}: {str(error).replace(str(path), name)}") from None
        upscaler = self.upscalers[preset]
        start = time.perf_counter()
        result = upscaler(image, outscale=outscale)
        seconds = time.perf_counter() - start
        bicubic = Image.fromarray(image).resize(result.shape[1::-1], Image.BICUBIC)
        folder = self._fresh("upscale")
        out = folder / f"{Path(path).stem}_{preset}_x{outscale:g}.png"
        Image.fromarray(result).save(out)
        bicubic.save(folder / "bicubic.png")
        size = f"{image.shape[1]}×{image.shape[0]} → {result.shape[1]}×{result.shape[0]}"
        timing = f"{size} in {seconds:.2f} s on {self.device}, by {upscaler.runtime}"
        return (str(folder / "bicubic.png"), str(out)), str(out), timing

    def _fresh(self, event: str) -> Path:
        """An empty folder for this event's files, the previous request's deleted (Gradio has
        copied them into its cache by then). Files, not arrays, go back to Gradio: it copies
        a file into its cache atomically, but rewrites an array's PNG in place, and two
        identical results at once then truncate each other's download (Gradio 6.31's
        `save_pil_to_cache`; benchmarks/app_burst.py)."""
        folder = self.results / event
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        return folder

    def compare(self, face: str, degradation: str) -> list[tuple[str, str]]:
        """A sample face under `degradation`: each image with its caption (PSNR against HR;
        with dlib, the identity distance to HR too: lower is better, below 0.6 the same person)."""
        _check_choice("Sample face", face, self.photos)
        _check_choice("Degradation", degradation, degrade.NAMED)
        row = degradation_row(self.photos[face], degradation, self.upscalers)
        hr = row["HR"][None]
        captions = {"LR as given": "LR as given (shown 4x, nearest)", "HR": "truth (HR)"}
        upscaled = {name: image[None] for name, image in row.items() if name not in captions}
        identity = self.faces.scores(upscaled, hr) if self.faces else {}
        for name, image in upscaled.items():
            captions[name] = f"{name}: {float(metrics.psnr(image, hr)[0]):.2f} dB"
            if name in identity:
                captions[name] += f", identity {float(identity[name]['identity'][0]):.3f}"
        folder = self._fresh("compare")
        shown = []
        for i, (name, image) in enumerate(row.items()):
            Image.fromarray(image).save(folder / f"{i}.png")
            shown.append((str(folder / f"{i}.png"), captions[name]))
        return shown


def _check_choice(what: str, value, choices) -> None:
    """gr.Error unless `value` is one of `choices` (the API can be called with anything)."""
    if not isinstance(value, str) or value not in choices:
        raise gr.Error(f"{what} must be one of {', '.join(choices)}, not {value!r}.")


def _header_size(path: str, name: str) -> tuple[int, int]:
    """An image's width and height from its header (0, 0 when it has none: reading it says
    why); gr.Error for a decompression bomb."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                return image.size
    except Image.DecompressionBombError:
        raise gr.Error(f"{name}: far too large (a decompression bomb?); crop the face, or use "
                       "`dcgan-sr upscale` for large images.") from None
    except (OSError, ValueError, SyntaxError):
        return 0, 0


def check_work(name: str, width: int, height: int, outscale) -> None:
    """gr.Error unless `outscale` is in the slider's range and the request's work is bounded."""
    if isinstance(outscale, bool) or not isinstance(outscale, (int, float)) \
            or not 1 <= outscale <= 8:
        raise gr.Error(f"Output scale must be a number from 1 to 8, not {outscale!r}.")
    if width * height > MAX_INPUT_PIXELS:
        raise gr.Error(f"{name}: {width}×{height} is more than this app upscales per request "
                       f"(at most {MAX_INPUT_PIXELS:,} pixels, e.g. 256×256); crop the face, or "
                       "use `dcgan-sr upscale` for large images.")


def output_scale_slider() -> gr.Slider:
    """The output-scale slider, its value from the API checked for a number before Gradio
    compares it with the bounds (a string "4" failed there, with no message). Not a
    subclass: Gradio writes a .pyi file beside the module of every component subclass."""
    slider = gr.Slider(1, 8, value=4, step=0.5, label="Output scale")
    preprocess = slider.preprocess

    def checked(payload):
        if isinstance(payload, bool) or not isinstance(payload, (int, float)):
            raise gr.Error(f"Output scale must be a number from 1 to 8, not {payload!r}.")
        return preprocess(payload)
    slider.preprocess = checked
    return slider


def bound_uploads(folder: Path, limit: int = MAX_KEPT_BYTES) -> list[Path]:
    """Delete the oldest files below `folder` until they hold at most `limit` bytes;
    returns those deleted."""
    files = []
    for path in folder.rglob("*"):
        try:
            if path.is_file() and not path.is_symlink():
                info = path.stat()
                files.append((info.st_mtime, info.st_size, path))
        except OSError:  # deleted meanwhile
            continue
    total, deleted = sum(size for _, size, _ in files), []
    for _, size, path in sorted(files):
        if total <= limit:
            break
        try:
            path.unlink()
        except OSError:
            continue
        total -= size
        deleted.append(path)
    return deleted


def _keep_uploads_bounded(folder: Path, stop: threading.Event, every: float = 1.0) -> None:
    while not stop.wait(every):
        bound_uploads(folder)


def build(session: Session) -> gr.Blocks:
    with gr.Blocks(title="dcgan-sr", analytics_enabled=False,
                   delete_cache=(60, FILE_LIFETIME)) as app:
        gr.Markdown("# dcgan-sr: 4× face super-resolution\nA small face (32×32 is what the "
                    "presets were trained on) in, four times larger out. Runs on this machine.")
        with gr.Tab("Upscale"):
            with gr.Row():
                with gr.Column():
                    upload = gr.File(label="Image (PNG, JPEG, WebP, ...)", file_types=["image"],
                                     type="filepath", elem_id="upload")
                    preset = gr.Dropdown(list(PRESETS), value=DEFAULT_PRESET, label="Preset")
                    outscale = output_scale_slider()
                    button = gr.Button("Upscale", variant="primary", elem_id="upscale-button")
                    gr.Examples([[p] for p in session.examples], inputs=[upload],
                                label="Sample faces (32×32, made by the evaluation protocol)")
                with gr.Column():
                    slider = gr.ImageSlider(label="bicubic | super-resolved", format="png",
                                            type="numpy")
                    timing = gr.Markdown(elem_id="timing")
                    download = gr.File(label="Result (PNG)", elem_id="result-file")
            button.click(session.upscale, [upload, preset, outscale], [slider, download, timing],
                         api_name="upscale")
        with gr.Tab("What degradation does"):
            gr.Markdown("The same face made small in different ways. `real` was trained on "
                        "such inputs; PSNR is measured against the original (HR), and so is "
                        "the identity distance (dlib's face descriptors; lower is better, below "
                        "0.6 dlib deems it the same person).")
            with gr.Row():
                face = gr.Dropdown(list(session.photos), value=next(iter(session.photos)),
                                   label="Sample face")
                degradation = gr.Dropdown(list(degrade.NAMED), value="jpeg", label="Degradation")
                compare = gr.Button("Compare", variant="primary")
            gallery = gr.Gallery(label="LR, bicubic, presets, truth", columns=6, format="png")
            compare.click(session.compare, [face, degradation], gallery, api_name="compare")
    return app


def run(folder: Path, stopping: threading.Event, host: str = "127.0.0.1", port: int = 7860,
        runtime: str = "auto") -> None:
    """Serve the app, its files in `folder`, until `stopping` is set (`dcgan_sr.serving.serve`
    sets it on SIGTERM and removes the folder afterwards)."""
    app = None
    try:
        session = Session(folder, runtime=runtime)
        # A KeyboardInterrupt raised inside a library's cleanup is printed and dropped
        # ("Exception ignored in ..."): the event still says a stop was asked for.
        _stop_if(stopping)
        app = build(session)
        app.queue(default_concurrency_limit=1, max_size=QUEUE_SIZE)
        # System fonts: the default theme's web fonts would be fetched from the internet.
        theme = gr.themes.Default(font=["system-ui", "sans-serif"],
                                  font_mono=["ui-monospace", "monospace"])
        app.launch(server_name=host, server_port=port, share=False, max_file_size=MAX_UPLOAD,
                   inbrowser=False, theme=theme, quiet=True, prevent_thread_lock=True)
        _stop_if(stopping)
        threading.Thread(target=_keep_uploads_bounded, args=(folder / "gradio", stopping),
                         daemon=True).start()
        print(f"dcgan-sr: serving on {app.local_url} (Ctrl-C stops)", flush=True)
        while not stopping.wait(0.5):
            pass
    finally:
        if app is not None:
            app.close()


def _stop_if(stopping: threading.Event) -> None:
    if stopping.is_set():
        raise KeyboardInterrupt
