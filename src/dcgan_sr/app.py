"""`dcgan-sr serve`: a local web app (Gradio) for trying the presets on your own images.

Tab "Upscale": an image (uploaded, or one of the bundled sample faces at 32x32), a preset
and a final scale; the result beside bicubic on a slider, the PNG to download, the time.
Tab "What degradation does": a sample face under one named degradation (dcgan_sr.degrade),
as LR, bicubic, each preset and the truth, with PSNR under each.

Every image goes through `dcgan_sr.Upscaler`, as from Python and the CLI. One request runs
at a time (Gradio's queue): a burst waits instead of exhausting memory.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import gradio as gr
import numpy as np
from PIL import Image

from dcgan_sr import data, degrade, metrics
from dcgan_sr.demo import degradation_row, load_photos
from dcgan_sr.presets import DEFAULT_PRESET, PRESETS
from dcgan_sr.runtime import device_name
from dcgan_sr.upscale import UnreadableImage, read_image
from dcgan_sr.upscaler import Upscaler

MAX_UPLOAD = "10mb"
SAMPLE_FACES = 8
QUEUE_SIZE = 32  # requests waiting beyond this are refused with a message


class Session:
    """What the app's handlers share: the loaded presets, the sample faces, a folder for results."""

    def __init__(self, sample_dir: str | Path = data.SAMPLE_DIR, runtime: str = "auto"):
        self.upscalers = {name: Upscaler(name, runtime=runtime) for name in PRESETS}
        files, photos = load_photos(sample_dir)
        self.photos = {f.name: p for f, p in zip(files[:SAMPLE_FACES], photos)}
        self.folder = Path(tempfile.mkdtemp(prefix="dcgan-sr-app-"))
        self.device = device_name()
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
        try:
            image, _ = read_image(Path(path))
        except UnreadableImage as error:
            raise gr.Error(f"{Path(path).name}: {error}") from None
        upscaler = self.upscalers[preset]
        start = time.perf_counter()
        result = upscaler(image, outscale=outscale)
        seconds = time.perf_counter() - start
        bicubic = np.asarray(Image.fromarray(image).resize(result.shape[1::-1], Image.BICUBIC))
        out = Path(tempfile.mkdtemp(dir=self.folder)) / f"{Path(path).stem}_{preset}_x{outscale:g}.png"
        Image.fromarray(result).save(out)
        size = f"{image.shape[1]}×{image.shape[0]} → {result.shape[1]}×{result.shape[0]}"
        timing = f"{size} in {seconds:.2f} s on {self.device}, by {upscaler.runtime}"
        return (bicubic, result), str(out), timing

    def compare(self, face: str, degradation: str) -> list[tuple[np.ndarray, str]]:
        """A sample face under `degradation`: each image with its caption (PSNR against HR)."""
        row = degradation_row(self.photos[face], degradation, self.upscalers)
        hr = row["HR"][None]
        captions = {"LR as given": "LR as given (shown 4x, nearest)", "HR": "truth (HR)"}
        for name, image in row.items():
            if name not in captions:
                captions[name] = f"{name}: {float(metrics.psnr(image[None], hr)[0]):.2f} dB"
        return [(image, captions[name]) for name, image in row.items()]


def build(session: Session) -> gr.Blocks:
    with gr.Blocks(title="dcgan-sr", analytics_enabled=False) as app:
        gr.Markdown("# dcgan-sr: 4× face super-resolution\nA small face (32×32 is what the "
                    "presets were trained on) in, four times larger out. Runs on this machine.")
        with gr.Tab("Upscale"):
            with gr.Row():
                with gr.Column():
                    upload = gr.File(label="Image (PNG, JPEG, WebP, ...)", file_types=["image"],
                                     type="filepath", elem_id="upload")
                    preset = gr.Dropdown(list(PRESETS), value=DEFAULT_PRESET, label="Preset")
                    outscale = gr.Slider(1, 8, value=4, step=0.5, label="Output scale")
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
                        "such inputs; PSNR is measured against the original (HR).")
            with gr.Row():
                face = gr.Dropdown(list(session.photos), value=next(iter(session.photos)),
                                   label="Sample face")
                degradation = gr.Dropdown(list(degrade.NAMED), value="jpeg", label="Degradation")
                compare = gr.Button("Compare", variant="primary")
            gallery = gr.Gallery(label="LR, bicubic, presets, truth", columns=6, format="png")
            compare.click(session.compare, [face, degradation], gallery, api_name="compare")
    return app


def serve(host: str = "127.0.0.1", port: int = 7860, runtime: str = "auto") -> None:
    app = build(Session(runtime=runtime))
    app.queue(default_concurrency_limit=1, max_size=QUEUE_SIZE)
    # System fonts: the default theme's web fonts would be fetched from the internet.
    theme = gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
    app.launch(server_name=host, server_port=port, share=False, max_file_size=MAX_UPLOAD,
               inbrowser=False, theme=theme, quiet=True, prevent_thread_lock=True)
    print(f"dcgan-sr: serving on {app.local_url} (Ctrl-C stops)", flush=True)
    app.block_thread()
