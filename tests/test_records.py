"""`dcgan-sr prepare --tfrecord-shards`: shards that hold the prepared crops, kept on a
rerun, and training that reads them through tf.data."""

import hashlib

import numpy as np
import tensorflow as tf

from dcgan_sr import decoding, prepare, records
from dcgan_sr.train import train

from conftest import assert_one_line_error


def _digests(images) -> list[str]:
    return sorted(hashlib.sha1(np.ascontiguousarray(x).tobytes()).hexdigest() for x in images)


def test_shards_hold_the_prepared_crops_and_survive_a_rerun(tmp_path, celeba_dir, caplog):
    out = tmp_path / "prepared"
    manifest = prepare.prepare(celeba_dir, out, tfrecord_shards=3)
    assert manifest["splits"]["train"] == {"images": 24, "skipped": 0, "tfrecord_shards": 3}
    assert sorted(p.name for p in out.glob("train-*.tfrecord")) == [
        f"train-{k:05d}-of-00003.tfrecord" for k in range(3)]
    assert prepare.tfrecord_shards(out, "train") == 3
    assert prepare.tfrecord_shards(out, "train+val") == 0  # joined splits: the arrays
    from_shards = list(records.read_shards(out, "train", 3).as_numpy_iterator())
    assert from_shards[0].dtype == np.uint8 and from_shards[0].shape == (128, 128, 3)
    assert _digests(from_shards) == _digests(prepare.load_prepared(out, "train"))
    # A rerun without the flag keeps the shards and still names them in the manifest.
    first = (out / "train-00000-of-00003.tfrecord").stat().st_mtime_ns
    with caplog.at_level("INFO", logger="dcgan_sr"):
        manifest = prepare.prepare(celeba_dir, out)
    assert manifest["splits"]["val"]["tfrecord_shards"] == 3
    assert (out / "train-00000-of-00003.tfrecord").stat().st_mtime_ns == first


def test_training_reads_the_shards(tmp_path, celeba_dir, tiny_config, caplog):
    out = tmp_path / "prepared"
    prepare.prepare(celeba_dir, out, tfrecord_shards=2)
    with caplog.at_level("INFO", logger="dcgan_sr"):
        summary = train(tiny_config, out, tmp_path / "run", verbose=0)
    assert "training images from 2 TFRecord files" in caplog.text
    assert summary["steps_completed"] == tiny_config.steps and summary["train_images"] == 24


def test_negative_shard_count_is_a_one_line_error(cli, tmp_path, celeba_dir):
    result = cli("prepare", "--data", celeba_dir, "--out", tmp_path / "p", "--tfrecord-shards", "-1")
    assert_one_line_error(result, "--tfrecord-shards")
    assert not (tmp_path / "p").exists()


def test_tf_data_training_batches_shuffle_and_flip_uint8_hr(sample_files):
    crops, _ = decoding.load_hr(sample_files[:8])
    batches = records.training_batches(tf.data.Dataset.from_tensor_slices(crops), batch_size=4, seed=0)
    seen = np.concatenate([b.numpy() for b in batches.take(4)])
    assert seen.shape == (16, 128, 128, 3) and seen.dtype == np.uint8
    as_given = {c.tobytes() for c in crops}
    mirrored = {c[:, ::-1].tobytes() for c in crops}
    assert all(s.tobytes() in as_given | mirrored for s in seen)
    assert any(s.tobytes() in mirrored - as_given for s in seen)  # some were flipped
