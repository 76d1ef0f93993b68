import logging
import shutil

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from dcgan_sr import data
from dcgan_sr.errors import UserError


def pillow_protocol(path):
    """The protocol written with Pillow alone, as the README states it."""
    with Image.open(path) as image:
        w, h = image.size
        side = min(w, h)
        top, left = (h - side) // 2, (w - side) // 2
        hr = image.convert("RGB").crop((left, top, left + side, top + side)).resize(
            (128, 128), Image.BICUBIC)
    return np.asarray(hr), np.asarray(hr.resize((32, 32), Image.BICUBIC))


def test_celeba_crop_is_rows_20_to_197():
    image = tf.reshape(tf.range(218 * 178 * 1), (218, 178, 1))
    square = data.center_square(image).numpy()
    assert square.shape == (178, 178, 1)
    assert square[0, 0, 0] == 20 * 178 and square[-1, 0, 0] == 197 * 178


def test_protocol_matches_pillow_on_real_faces(sample_files):
    for path in sample_files[:16]:
        hr_pil, lr_pil = pillow_protocol(path)
        photo = data.decode(tf.io.read_file(str(path)))
        hr = data.hr_from_photo(photo).numpy()
        lr = data.lr_from_hr(hr).numpy()
        assert hr.shape == (128, 128, 3) and lr.shape == (32, 32, 3)
        assert np.abs(hr.astype(int) - hr_pil).mean() < 1.0, path
        assert np.abs(lr.astype(int) - lr_pil).mean() < 1.0, path


def test_nested_kaggle_layout_is_found(tmp_path, sample_files):
    nested = tmp_path / "img_align_celeba" / "img_align_celeba"
    nested.mkdir(parents=True)
    for path in sample_files[:3]:
        shutil.copy(path, nested / path.name)
    assert [p.name for p in data.find_images(tmp_path)] == [p.name for p in sample_files[:3]]


def test_missing_or_empty_folder_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no such folder"):
        data.find_images(tmp_path / "nope")
    with pytest.raises(UserError, match="no .jpg/.png/.gif/.bmp images"):
        data.find_images(tmp_path)


def test_split_by_file_number(tmp_path):
    names = ["000001.jpg", "162770.jpg", "162771.jpg", "182637.jpg", "182638.jpg", "202599.jpg"]
    files = [tmp_path / n for n in names]
    assert [p.name for p in data.split_files(files, "train", tmp_path)] == names[:2]
    assert [p.name for p in data.split_files(files, "val", tmp_path)] == names[2:4]
    assert [p.name for p in data.split_files(files, "test", tmp_path)] == names[4:]
    assert len(data.split_files(files, "train+val", tmp_path)) == 4


def test_split_prefers_the_partition_file(tmp_path):
    (tmp_path / "list_eval_partition.csv").write_text(
        "image_id,partition\n000001.jpg,2\n000002.jpg,0\n")
    images = tmp_path / "img_align_celeba"
    files = [images / "000001.jpg", images / "000002.jpg"]
    assert data.split_files(files, "test", images) == files[:1]
    with pytest.raises(UserError, match="unknown split"):
        data.split_files(files, "holdout", images)


def test_unreadable_files_are_skipped_and_counted(tmp_path, sample_files, caplog):
    good = [tmp_path / p.name for p in sample_files[:3]]
    for src, dst in zip(sample_files, good):
        shutil.copy(src, dst)
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(sample_files[3].read_bytes()[:600])
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with caplog.at_level(logging.WARNING, logger="dcgan_sr"):
        hr = data.load_hr_images(good + [truncated, text, empty])
    assert int(hr.cardinality()) == 3
    assert len(list(hr)) == 3
    assert "skipped 3 unreadable or oversized image(s) of 6" in caplog.text


def test_training_batches_shapes_and_ranges(sample_files):
    hr = data.load_hr_images(sample_files[:8])
    lr_batch, hr_batch = next(iter(data.training_batches(hr, batch_size=4, seed=0)))
    assert lr_batch.shape == (4, 32, 32, 3) and hr_batch.shape == (4, 128, 128, 3)
    for batch in (lr_batch, hr_batch):
        assert batch.dtype == tf.float32
        assert -1.0 <= float(tf.reduce_min(batch)) and float(tf.reduce_max(batch)) <= 1.0
    # LR is the protocol's downscale of the (possibly flipped) HR.
    expected = data.to_model(data.lr_from_hr(data.from_model(hr_batch.numpy())))
    np.testing.assert_allclose(lr_batch.numpy(), expected.numpy(), atol=1e-6)


def test_model_range_round_trip():
    pixels = np.arange(256, dtype=np.uint8)
    assert np.array_equal(data.from_model(data.to_model(pixels)), pixels)
