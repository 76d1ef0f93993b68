"""dcgan_sr: 4x super-resolution of face crops (32x32 -> 128x128) with a DCGAN, on CelebA."""

import os

# TensorFlow's C++ log lines (oneDNN and CUDA probing at start-up, Grappler's "remapper
# failed" when it cannot fuse a layer, which is harmless) are noise in a CLI and a notebook;
# set TF_CPP_MIN_LOG_LEVEL=0 to see them.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

__version__ = "0.1.0"


def __getattr__(name):
    """`from dcgan_sr import Upscaler`, imported (with Keras) only when asked for."""
    if name == "Upscaler":
        from dcgan_sr.upscaler import Upscaler
        return Upscaler
    raise AttributeError(f"module 'dcgan_sr' has no attribute {name!r}")
