"""`dcgan-sr`: download, subset, prepare, train, evaluate, upscale, export, serve, demo.

Problems the user can fix end in a one-line `dcgan-sr: error: ...` and exit code 2,
never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

from dcgan_sr import __version__
from dcgan_sr.config import CHOICES, Config
from dcgan_sr.degrade import NAMED
from dcgan_sr.errors import TrainingInterrupted, UserError, WorkerLost
from dcgan_sr.runtime import has_tensorflow, installed, show_messages, start_tensorflow
from dcgan_sr.vocabulary import (DEFAULT_TILE, EXPORT_FORMATS, MAX_OUTSCALE, MIN_TILE,
                                 OUTPUT_FORMATS, RUNTIMES)

def _config_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("hyperparameters (defaults: the seed's recipe)")
    for f in dataclasses.fields(Config):
        flag = "--" + f.name.replace("_", "-")
        if f.type == "str" and f.name not in CHOICES:
            group.add_argument(flag, dest=f.name, metavar="TEXT", help=f"default {f.default!r}")
        elif f.type == "str":
            group.add_argument(flag, dest=f.name, choices=CHOICES[f.name], help=f"default {f.default}")
        elif f.type == "bool":
            group.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction,
                               default=None, help=f"default {f.default}")
        elif f.type.startswith("tuple["):
            item = {"tuple[int, ...]": int, "tuple[float, ...]": float}.get(f.type, str)
            group.add_argument(flag, dest=f.name, metavar="V,V,...",
                               type=lambda s, item=item: tuple(item(v) for v in s.split(",")),
                               help=f"default {','.join(map(str, f.default))}")
        else:
            group.add_argument(flag, dest=f.name, type=int if f.type == "int" else float,
                               metavar="N" if f.type == "int" else "X", help=f"default {f.default}")


def _device_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto",
                        help="where the generator runs (default auto: a GPU when the Keras backend "
                             "sees one; CUDA_VISIBLE_DEVICES is honoured)")
    parser.add_argument("--runtime", choices=RUNTIMES, default="auto",
                        help="what runs it on the CPU (default auto: ONNX Runtime when installed, "
                             "the fastest; else Keras)")


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dcgan-sr", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    for add in (_add_download, _add_subset, _add_prepare, _add_train, _add_evaluate, _add_upscale,
                _add_export, _add_serve, _add_demo):
        add(commands)
    return parser


def _add_download(commands) -> None:
    p = commands.add_parser("download", help="download CelebA from Kaggle")
    p.add_argument("--dest", default="data/celeba", help="destination folder (default data/celeba)")
    p.set_defaults(run=_download)


def _add_subset(commands) -> None:
    p = commands.add_parser("subset", help="copy a listed subset of CelebA (e.g. the presets' 5,100 faces)")
    p.add_argument("--data", required=True, help="folder of the full CelebA (`dcgan-sr download`)")
    p.add_argument("--list", default="data/celeba_5100.csv",
                   help="CSV of image_id,partition (default data/celeba_5100.csv: the images the "
                        "presets were trained, chosen and tested on)")
    p.add_argument("--out", required=True, help="folder to copy them into, with the list as its "
                                                "list_eval_partition.csv")
    p.set_defaults(run=_subset)


def _add_prepare(commands) -> None:
    p = commands.add_parser("prepare", help="decode a CelebA folder once into uint8 HR arrays")
    p.add_argument("--data", required=True, help="folder of CelebA images")
    p.add_argument("--out", required=True, help="folder for <split>.npy and prepared.json")
    p.add_argument("--tfrecord-shards", type=int, default=0, metavar="N",
                   help="also write N TFRecord files per split, for tf.data at scale "
                        "(needs TensorFlow; default 0)")
    p.set_defaults(run=_prepare)


def _add_train(commands) -> None:
    p = commands.add_parser("train", help="train (or resume) a run")
    p.add_argument("--data", required=True,
                   help="folder of CelebA images, or one written by `dcgan-sr prepare`")
    p.add_argument("--out", required=True, help="run folder, e.g. runs/seed")
    p.add_argument("--config", help="JSON file of hyperparameters; flags override it")
    p.add_argument("--overwrite", action="store_true",
                   help="discard a run of a different config in --out")
    p.add_argument("--train-split", default="train",
                   help="images to train on: train (default), val, test, train+val or all")
    p.add_argument("--val-split", default="val", help="images to validate on (default val)")
    p.add_argument("--keep-generators", action="store_true",
                   help="also keep G at every checkpoint (generators/step_N.weights.h5), to "
                        "choose the one to ship afterwards")
    _config_flags(p)
    p.set_defaults(run=_train)


def _add_evaluate(commands) -> None:
    p = commands.add_parser("evaluate", help="PSNR/SSIM of bilinear, bicubic and generators")
    p.add_argument("--data", required=True, help="folder of CelebA images")
    p.add_argument("--split", default="test", help="train, val, test, train+val or all (default test)")
    p.add_argument("--weights", metavar="W[,W...]",
                   help="preset names or .weights.h5/.keras files, comma-separated (a file whose "
                        "name holds a comma is taken whole; default: the default preset; with "
                        "--degradation all, every preset)")
    p.add_argument("--degradation", default="protocol", choices=(*NAMED, "all"),
                   help="the named degradation LR is made by, the same for every run (see README; "
                        "default protocol); all: the robustness table. Not train's --degradation, "
                        "which picks protocol or a fresh draw of the realistic mix per face")
    p.add_argument("--seed", type=int, default=0, help="seed of the random degradations (default 0)")
    p.add_argument("--limit", type=int, help="only the first N images of the split")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _device_flags(p)
    p.set_defaults(run=_evaluate)


def _add_upscale(commands) -> None:
    p = commands.add_parser("upscale", help="upscale image files 4x")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders")
    p.add_argument("--out", required=True, help="output folder; writes <stem><suffix>.<ext>")
    p.add_argument("--weights", help="preset name (real, mse, gan) or a .weights.h5/.keras file "
                                     "(default real: see the README's robustness table)")
    p.add_argument("--tile", type=int, default=DEFAULT_TILE,
                   help=f"tile size in input pixels (default {DEFAULT_TILE}, at least {MIN_TILE})")
    p.add_argument("--overwrite", action="store_true", help="redo outputs that exist")
    p.add_argument("--outscale", type=float, default=4.0, metavar="X",
                   help="final scale: the network's 4x, then resized by Lanczos (default 4, at "
                        f"most {MAX_OUTSCALE})")
    p.add_argument("--ext", choices=tuple(OUTPUT_FORMATS), default="png",
                   help="output format (default png; jpg puts transparency on white)")
    p.add_argument("--suffix", default="", help="added to each output's name, e.g. _x4")
    p.add_argument("--recursive", action="store_true",
                   help="also upscale the images in subfolders, mirroring them under --out")
    _device_flags(p)
    p.set_defaults(run=_upscale)


def _add_export(commands) -> None:
    p = commands.add_parser("export", help="write the generator as a SavedModel, ONNX or LiteRT file")
    p.add_argument("--weights", help="preset name (real, mse, gan) or a .weights.h5/.keras file "
                                     "(default real)")
    p.add_argument("--format", required=True, choices=tuple(EXPORT_FORMATS))
    p.add_argument("--out", required=True,
                   help="where to write it (a folder for saved_model, a file for onnx/litert)")
    p.set_defaults(run=_export)


def _add_serve(commands) -> None:
    p = commands.add_parser("serve", help="a local web app for trying the presets (pip install .[app])")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    _device_flags(p)
    p.set_defaults(run=_serve)


def _add_demo(commands) -> None:
    p = commands.add_parser("demo", help="super-resolve the bundled sample, write figures and metrics")
    p.add_argument("--data", help="folder of CelebA images (default: the bundled sample faces)")
    p.add_argument("--out", default="outputs/demo", help="output folder (default outputs/demo)")
    _device_flags(p)
    p.set_defaults(run=_demo)


def _config_from_args(args) -> Config:
    values = Config.load(args.config).to_dict() if args.config else {}
    for f in dataclasses.fields(Config):
        if getattr(args, f.name) is not None:
            values[f.name] = getattr(args, f.name)
    return Config.from_dict(values, source="command line")


def _choose_device(args) -> None:
    """Start TensorFlow (quietly) on the --device asked for: the GPUs hidden before it starts
    (cpu), or one insisted on (gpu, where the generator runs in Keras: the ONNX Runtime route
    is the CPU's)."""
    if getattr(args, "device", "auto") == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = "-1"
        os.environ["JAX_PLATFORMS"] = "cpu"
    start_tensorflow()
    if getattr(args, "device", "auto") == "gpu":
        from dcgan_sr.runtime import gpus
        if not gpus():
            raise UserError("--device gpu: the Keras backend sees no GPU (check nvidia-smi and "
                            "CUDA_VISIBLE_DEVICES; TensorFlow needs tensorflow[and-cuda]), or use "
                            "--device cpu")
        if args.runtime == "onnxruntime":
            raise UserError("--runtime onnxruntime runs on the CPU: use it with --device cpu")
        args.runtime = "keras"


def _run(args) -> int:
    if args.command not in ("download", "subset", "prepare"):
        _choose_device(args)
    return args.run(args)


def _download(args) -> int:
    from dcgan_sr.download import download_celeba
    download_celeba(args.dest)
    return 0


def _subset(args) -> int:
    from dcgan_sr.data import make_subset
    copied = make_subset(args.data, args.list, args.out)
    print(f"{args.out}: {copied:,} images copied")
    return 0


def _prepare(args) -> int:
    from dcgan_sr.prepare import prepare
    if args.tfrecord_shards < 0:
        raise UserError("--tfrecord-shards must be 0 or more")
    if args.tfrecord_shards and not has_tensorflow():
        raise UserError("--tfrecord-shards needs TensorFlow (pip install tensorflow); "
                        "leave it out to write the NumPy arrays alone")
    print(json.dumps(prepare(args.data, args.out, tfrecord_shards=args.tfrecord_shards)
                     ["splits"], indent=2))
    return 0


def _train(args) -> int:
    from dcgan_sr.train import train
    summary = train(_config_from_args(args), args.data, args.out, overwrite=args.overwrite,
                    train_split=args.train_split, val_split=args.val_split,
                    keep_generators=args.keep_generators)
    print(json.dumps(summary, indent=2))
    return 0


def _upscale(args) -> int:
    from dcgan_sr.upscale import upscale_files
    from dcgan_sr.upscaler import Upscaler
    if args.tile < MIN_TILE:
        raise UserError(f"--tile must be at least {MIN_TILE} input pixels")
    if not 0 < args.outscale <= MAX_OUTSCALE:
        raise UserError(f"--outscale must be above 0 and at most {MAX_OUTSCALE}")
    if "/" in args.suffix or "\\" in args.suffix:
        raise UserError("--suffix is part of a file name: no / or \\ in it")
    upscaler = Upscaler(args.weights, tile=args.tile, outscale=args.outscale, runtime=args.runtime)
    bar = ProgressBar() if sys.stdout.isatty() else None  # else a line per file, for logs
    report = upscale_files(upscaler, args.inputs, args.out, overwrite=args.overwrite, ext=args.ext,
                           suffix=args.suffix, recursive=args.recursive,
                           say=lambda line: print(line, file=sys.stderr if bar else sys.stdout),
                           progress=bar)
    print(f"{len(report.written)} written, {len(report.skipped)} skipped, "
          f"{len(report.failed)} failed")
    return 1 if report.failed else 0


def _export(args) -> int:
    from dcgan_sr.export import export
    from dcgan_sr.presets import load_generator
    print(export(load_generator(args.weights), args.format, args.out))
    return 0


def _demo(args) -> int:
    from dcgan_sr.data import SAMPLE_DIR
    from dcgan_sr.demo import run_demo
    run_demo(args.data or SAMPLE_DIR, args.out, runtime=args.runtime)
    return 0


def _serve(args) -> int:
    if not installed("gradio"):
        raise UserError("serve needs Gradio: pip install -r requirements-app.txt (or "
                        "pip install '.[app]')")
    if not 0 < args.port < 65536:
        raise UserError(f"--port must be between 1 and 65535, not {args.port}")
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"dcgan-sr: warning: listening on {args.host}: anyone who can reach port {args.port} "
              "of this machine can use the app", file=sys.stderr)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home
    from dcgan_sr.serving import serve
    serve(args.host, args.port, runtime=args.runtime)
    return 0


class ProgressBar:
    """Keras' Progbar (images done, rate, ETA) over the files of one `upscale`."""

    def __init__(self):
        self.bar = None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            import keras
            self.bar = keras.utils.Progbar(total, unit_name="image")
        self.bar.update(done)


def _evaluate(args) -> int:
    from dcgan_sr import evaluate
    from dcgan_sr.presets import DEFAULT_PRESET, PRESETS
    from dcgan_sr.upscaler import Upscaler
    if not 0 <= args.seed < 2 ** 32:
        raise UserError(f"--seed must be between 0 and 2**32 - 1, got {args.seed}")
    names = _weights_list(args.weights) if args.weights is not None else (
        list(PRESETS) if args.degradation == "all" else [DEFAULT_PRESET])
    # A preset is named by its name; a file by its stem (or its place in the list, when two share one).
    labels = [Path(n).name.split(".")[0] if n not in PRESETS else n for n in names]
    if len(set(labels)) < len(labels):
        labels = [f"model{i + 1}" for i in range(len(names))]
    upscalers = {label: Upscaler(name, runtime=args.runtime) for label, name in zip(labels, names)}
    if args.degradation == "all":
        table = evaluate.robustness(args.data, upscalers, args.split, args.limit, seed=args.seed,
                                    progress=lambda m: print(m, file=sys.stderr))
        print(json.dumps(table, indent=2) if args.json
              else evaluate.format_robustness(table, list(upscalers)))
        if not args.json and "identity" in next(iter(table.values()))["bicubic"]:
            print("\n" + evaluate.format_choice(table, list(upscalers)))
        return 0
    result = evaluate.evaluate(args.data, upscalers, args.split, args.limit, args.degradation,
                               args.seed)
    print(json.dumps(result, indent=2) if args.json else evaluate.format_table(result))
    return 0


def _weights_list(text: str) -> list[str]:
    """evaluate's --weights: one existing file (its name may hold commas), else the
    comma-separated names; an empty name is refused."""
    if Path(text).is_file():
        return [text]
    names = text.split(",")
    if not all(name.strip() for name in names):
        raise UserError(f"--weights {text!r}: an empty name; pass preset names or .weights.h5/"
                        ".keras files, separated by commas")
    return names


def main(argv: list[str] | None = None) -> int:
    # A file name that the terminal's encoding cannot show (not UTF-8, or an ASCII locale) is
    # printed with escapes, never an error in the middle of a batch.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    args = _build_parser().parse_args(argv)
    show_messages()
    try:
        return _run(args)
    except UserError as error:
        print(f"dcgan-sr: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # the file system: a full disk, a read-only or missing folder
        where = f"{error.filename}: " if error.filename else ""
        print(f"dcgan-sr: error: {where}{error.strerror or error}", file=sys.stderr)
        return 1
    except TrainingInterrupted as error:
        print(f"dcgan-sr: {error}", file=sys.stderr)
        return error.exit_code
    except WorkerLost as error:
        print(f"dcgan-sr: error: {error}", file=sys.stderr, flush=True)
        # Not a normal exit: JAX's shutdown would wait for the lost worker, then abort.
        os._exit(1)
    except KeyboardInterrupt:
        print("dcgan-sr: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - out of memory is the one more we can explain
        if not _out_of_memory(error):
            raise
        print(f"dcgan-sr: error: out of memory ({type(error).__name__}): the networks or the batch "
              "are too large for this machine; lower --batch-size or the --gen-*/--disc-* widths",
              file=sys.stderr)
        return 1


def _out_of_memory(error: Exception) -> bool:
    """MemoryError, or a backend's: TensorFlow's ResourceExhaustedError, XLA's RESOURCE_EXHAUSTED."""
    return isinstance(error, MemoryError) or type(error).__name__ == "ResourceExhaustedError" \
        or "RESOURCE_EXHAUSTED" in str(error)[:200]


if __name__ == "__main__":
    sys.exit(main())
