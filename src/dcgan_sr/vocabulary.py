"""Names and bounds that the CLI, the Python API and the web app share, each written once.

Light on purpose (no Keras, no NumPy): `dcgan-sr --help` builds its choices from here.
"""

# Where the generator runs on a CPU (dcgan_sr.inference).
RUNTIMES = ("auto", "keras", "onnxruntime")
# `dcgan-sr export --format` -> Keras' export format (dcgan_sr.export).
EXPORT_FORMATS = {"saved_model": "tf_saved_model", "onnx": "onnx", "litert": "litert"}
# `dcgan-sr upscale --ext` -> Pillow's format, and the largest side each format can hold.
OUTPUT_FORMATS = {"png": "PNG", "jpg": "JPEG", "webp": "WEBP"}
MAX_SIDE = {"webp": 16_383, "jpg": 65_500}
# Tiling (input pixels) and the final scale after the network's 4x (Lanczos).
DEFAULT_TILE = 128
MIN_TILE = 16
MAX_OUTSCALE = 16
