"""Names, sizes and bounds that the package shares, each written once.

Light on purpose (no Keras, no NumPy): `dcgan-sr --help` builds its choices from here.
"""

# The protocol's geometry: 128x128 HR faces, 32x32 LR inputs, a 4x network.
HR_SIZE = 128
SCALE = 4
LR_SIZE = HR_SIZE // SCALE

# The image files read as inputs (data folders, `dcgan-sr upscale` folders).
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff"}
KNOWN_IMAGES = "/".join(sorted(IMAGE_SUFFIXES))
# The subfolders a `dcgan-sr train` run writes (dcgan_sr.run_folder): never read as data.
RUN_SUBFOLDERS = ("checkpoints", "samples", "generators", "logs")
# One reader (dcgan_sr.pixels.read), two bounds for two purposes, both checked from the
# header before decoding: a photo to train or evaluate on (Pillow's own decompression-bomb
# limit), and an image to upscale (its 4x output, 16 times as many pixels, must fit in memory).
MAX_PHOTO_PIXELS = 89_478_485
MAX_UPSCALE_PIXELS = 4096 * 4096

# Where the generator runs on a CPU (dcgan_sr.upscaler).
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
