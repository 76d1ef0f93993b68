"""PSNR and SSIM as BasicSR computes them: uint8 images, a border crop, RGB or the Y channel.

* PSNR: 10 log10(255^2 / MSE), per image, over all channels.
* SSIM: Wang et al. 2004 with an 11x11 Gaussian window (sigma 1.5), K1 0.01, K2 0.03,
  'valid' filtering; for RGB the mean of the three channels' SSIM.
* Y: ITU-R BT.601 luma of [0, 255] RGB, 16 + (65.481 R + 128.553 G + 24.966 B) / 255.

* Sharpness: the high-frequency energy ratio, the energy of the Laplacian of SR's Y
  channel over that of HR's. Below 1 the result is blurrier than the truth, above 1 it
  has more fine detail (or noise) than the truth; it needs no pretrained network.

All functions take batches (N, H, W, 3) of uint8 and return one value per image.
"""

from __future__ import annotations

import hashlib

import numpy as np

BORDER = 4
# PSNR of identical images (MSE 0) is infinite; it is reported as this many dB instead.
PSNR_CAP = 100.0


def rgb_to_y(images: np.ndarray) -> np.ndarray:
    rgb = np.asarray(images, np.float64)
    return (16.0 + rgb @ np.array([65.481, 128.553, 24.966]) / 255.0)[..., None]


def _prepare(a, b, crop: int, y: bool):
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    if a.ndim == 3:
        a, b = a[None], b[None]
    if crop:
        a, b = a[:, crop:-crop, crop:-crop], b[:, crop:-crop, crop:-crop]
    if y:
        return rgb_to_y(a), rgb_to_y(b)
    return a.astype(np.float64), b.astype(np.float64)


def psnr(a, b, crop: int = BORDER, y: bool = False) -> np.ndarray:
    a, b = _prepare(a, b, crop, y)
    mse = np.mean((a - b) ** 2, axis=(1, 2, 3))
    with np.errstate(divide="ignore"):
        return np.minimum(10.0 * np.log10(255.0 ** 2 / mse), PSNR_CAP)


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    x = np.arange(size) - size // 2
    g = np.exp(-x ** 2 / (2 * sigma ** 2))
    return g / g.sum()


def _filter_valid(images: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Separable 'valid' filtering of (N, H, W, C) with the 1-D kernel g, along H then W."""
    windows = np.lib.stride_tricks.sliding_window_view(images, len(g), axis=1)
    images = windows @ g
    windows = np.lib.stride_tricks.sliding_window_view(images, len(g), axis=2)
    return windows @ g


def ssim(a, b, crop: int = BORDER, y: bool = False) -> np.ndarray:
    a, b = _prepare(a, b, crop, y)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    g = _gaussian_window()
    mu_a, mu_b = _filter_valid(a, g), _filter_valid(b, g)
    var_a = _filter_valid(a * a, g) - mu_a ** 2
    var_b = _filter_valid(b * b, g) - mu_b ** 2
    cov = _filter_valid(a * b, g) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / (
        (mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return ssim_map.mean(axis=(1, 2, 3))


def _laplacian_energy(y: np.ndarray) -> np.ndarray:
    """Mean squared 4-neighbour Laplacian of (N, H, W, 1) images ('valid' borders)."""
    lap = (4 * y[:, 1:-1, 1:-1] - y[:, :-2, 1:-1] - y[:, 2:, 1:-1] - y[:, 1:-1, :-2] - y[:, 1:-1, 2:])
    return np.mean(lap ** 2, axis=(1, 2, 3))


def high_frequency_ratio(sr, hr, crop: int = BORDER) -> np.ndarray:
    """NaN where HR is flat (no high frequencies): such images are left out of means."""
    sr_y, hr_y = _prepare(sr, hr, crop, y=True)
    hr_energy = _laplacian_energy(hr_y)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(hr_energy > 1e-6, _laplacian_energy(sr_y) / hr_energy, np.nan)


def per_image(sr, hr, crop: int = BORDER) -> dict[str, np.ndarray]:
    """Every metric `evaluate` reports, one value per image of the batch."""
    return {"psnr_rgb": psnr(sr, hr, crop), "ssim_rgb": ssim(sr, hr, crop),
            "psnr_y": psnr(sr, hr, crop, y=True), "ssim_y": ssim(sr, hr, crop, y=True),
            "hf_ratio": high_frequency_ratio(sr, hr, crop)}


# --- faces: identity and geometry (dlib, the optional [faces] extra) ------------------
# Each 128x128 face is scaled to FACE_SCALE x 128 (bicubic) for dlib. The face's box is found
# on HR (dlib's HOG detector; the central box of an aligned crop where it finds none) and
# used for SR too; 68 landmarks are placed on each image by the same predictor in that box,
# and each image's 128-D descriptor (dlib's ResNet) is computed from its own landmarks.
FACE_SCALE = 2
SAME_PERSON = 0.6  # dlib's threshold on the descriptor distance


def faces_available() -> bool:
    from dcgan_sr.runtime import installed
    return installed("dlib", "face_recognition_models")


class FaceMetrics:
    """Identity distance (L2 between dlib face descriptors of SR and HR; 0 for HR itself,
    below 0.6 dlib deems the same person) and landmark distance (mean over 68 points, in
    pixels of the 128x128 image), per image. Deterministic; models load once."""

    TRUTHS_KEPT = 20_000  # HR faces whose analysis is kept (a few kB each)

    def __init__(self):
        import dlib
        import face_recognition_models as models

        # HR's box and analysis by the face's bytes: evaluate meets the same truth under
        # every degradation but `misaligned`, and the app's sample faces on every request.
        self._truths: dict[bytes, tuple] = {}
        self._detect = dlib.get_frontal_face_detector()
        self._landmarks = dlib.shape_predictor(models.pose_predictor_model_location())
        self._describe = dlib.face_recognition_model_v1(models.face_recognition_model_location())
        self._dlib = dlib

    def _scaled(self, image: np.ndarray) -> np.ndarray:
        from PIL import Image
        h, w = image.shape[:2]
        return np.asarray(Image.fromarray(np.asarray(image, np.uint8)).resize(
            (w * FACE_SCALE, h * FACE_SCALE), Image.BICUBIC))

    def box(self, hr: np.ndarray):
        """The face's box on the scaled HR: the largest detection, else the central 70 %."""
        scaled = self._scaled(hr)
        found = list(self._detect(scaled, 0))
        if found:
            return max(found, key=lambda r: r.area())
        h, w = scaled.shape[:2]
        return self._dlib.rectangle(int(0.15 * w), int(0.15 * h), int(0.85 * w), int(0.85 * h))

    def analyse(self, image: np.ndarray, box) -> tuple[np.ndarray, np.ndarray]:
        """(128-D descriptor, 68 x 2 landmarks in pixels of the unscaled image)."""
        scaled = self._scaled(image)
        shape = self._landmarks(scaled, box)
        points = np.array([(p.x, p.y) for p in shape.parts()], np.float64) / FACE_SCALE
        return np.asarray(self._describe.compute_face_descriptor(scaled, shape)), points

    def _truth(self, hr: np.ndarray) -> tuple:
        """(box, analysis) of one HR face, computed once."""
        key = hashlib.blake2b(np.ascontiguousarray(hr, np.uint8).tobytes(), digest_size=16).digest()
        if key not in self._truths:
            if len(self._truths) >= self.TRUTHS_KEPT:
                self._truths.pop(next(iter(self._truths)))  # the oldest
            box = self.box(hr)
            self._truths[key] = box, self.analyse(hr, box)
        return self._truths[key]

    def truth_descriptors(self, hr: np.ndarray) -> np.ndarray:
        """N x 128: each HR face's descriptor (computed once, as `scores` uses it)."""
        return np.array([self._truth(face)[1][0] for face in hr])

    def scores(self, upscaled: dict[str, np.ndarray], hr: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
        """{method: {"identity": per image, "landmarks": per image, "descriptor": N x 128}}
        for one uint8 batch."""
        known = [self._truth(face) for face in hr]
        boxes, truth = [box for box, _ in known], [analysis for _, analysis in known]
        result = {}
        for name, batch in upscaled.items():
            found = [self.analyse(face, box) for face, box in zip(batch, boxes)]
            result[name] = {
                "identity": np.array([np.linalg.norm(d - t[0]) for (d, _), t in zip(found, truth)]),
                "landmarks": np.array([np.linalg.norm(p - t[1], axis=1).mean()
                                       for (_, p), t in zip(found, truth)]),
                "descriptor": np.array([d for d, _ in found])}
        return result


def rank1(queries: np.ndarray, gallery: np.ndarray, people) -> np.ndarray:
    """Identification, per query i: whether the gallery face nearest to it (L2 between face
    descriptors), among all but gallery face i (the query's own photo), shows the same
    person as face i. With `queries` = `gallery`, the truth's own rank-1: the ceiling."""
    people = np.asarray(people)
    # squared L2 by one matrix product (not an N x N x 128 array of differences)
    distances = (np.sum(queries ** 2, axis=1)[:, None] + np.sum(gallery ** 2, axis=1)[None, :]
                 - 2.0 * queries @ gallery.T)
    np.fill_diagonal(distances, np.inf)
    return (people[np.argmin(distances, axis=1)] == people).astype(float)
