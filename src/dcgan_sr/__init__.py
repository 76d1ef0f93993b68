"""dcgan_sr: 4x super-resolution of face crops (32x32 -> 128x128) with a DCGAN, on CelebA."""

import os

# TensorFlow's C++ start-up chatter (oneDNN, CUDA probing) is noise in a CLI and a notebook.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"


def __getattr__(name):
    """`from dcgan_sr import Upscaler`, imported (with Keras) only when asked for."""
    if name == "Upscaler":
        from dcgan_sr.upscaler import Upscaler
        return Upscaler
    raise AttributeError(f"module 'dcgan_sr' has no attribute {name!r}")
