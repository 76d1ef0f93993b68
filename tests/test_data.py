import logging
import shutil

import numpy as np
import pytest
from PIL import Image

from dcgan_sr import data, decoding, degrade, prepare
from dcgan_sr.pixels import from_model, read_photo, to_model
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
    image = np.arange(218 * 178).reshape(218, 178, 1)
    square = degrade.central_square(image)
    assert square.shape == (178, 178, 1)
    assert square[0, 0, 0] == 20 * 178 and square[-1, 0, 0] == 197 * 178


def test_protocol_is_the_readmes_pillow_recipe_on_real_faces(sample_files):
    photos = [read_photo(p) for p in sample_files[:16]]
    lr, hr = degrade.pairs(photos, "protocol")
    crops, _ = decoding.load_hr(sample_files[:16])
    for path, low, high, crop in zip(sample_files, lr, hr, crops):
        hr_pil, lr_pil = pillow_protocol(path)
        assert np.array_equal(high, hr_pil) and np.array_equal(crop, hr_pil), path
        assert np.array_equal(low, lr_pil), path


def test_nested_kaggle_layout_is_found(tmp_path, sample_files):
    nested = tmp_path / "img_align_celeba" / "img_align_celeba"
    nested.mkdir(parents=True)
    for path in sample_files[:3]:
        shutil.copy(path, nested / path.name)
    assert [p.name for p in data.find_images(tmp_path)] == [p.name for p in sample_files[:3]]


def test_missing_or_empty_folder_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no such folder"):
        data.find_images(tmp_path / "nope")
    with pytest.raises(UserError, match="no images found"):
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
        hr, kept = decoding.load_hr(good + [truncated, text, empty])
    assert hr.shape == (3, 128, 128, 3) and kept == good
    assert "skipped 3 unreadable or oversized image(s) of 6" in caplog.text


def test_model_range_round_trip():
    pixels = np.arange(256, dtype=np.uint8)
    assert np.array_equal(from_model(to_model(pixels)), pixels)


def test_subset_list_is_the_presets_5100_faces_by_the_official_partition():
    """data/celeba_5100.csv: what the presets were trained on (3,870 / 720 / 510), in
    list_eval_partition.csv's format, each partition as CelebA's numbering gives it."""
    import csv
    from pathlib import Path

    listed = Path(__file__).resolve().parents[1] / "data" / "celeba_5100.csv"
    with open(listed, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len({r["image_id"] for r in rows}) == 5100
    for split, count in zip(data.SPLITS, (3870, 720, 510)):
        assert sum(data.SPLITS[int(r["partition"])] == split for r in rows) == count
    assert all(data.split_of_number(int(r["image_id"][:-4])) == data.SPLITS[int(r["partition"])]
               for r in rows)


def test_subset_copies_the_listed_images_and_refuses_what_it_cannot(tmp_path, sample_files, cli):
    from conftest import assert_one_line_error

    nested = tmp_path / "celeba" / "img_align_celeba" / "img_align_celeba"
    nested.mkdir(parents=True)
    for f in sample_files[:3]:
        shutil.copy(f, nested)
    listed = tmp_path / "list.csv"
    listed.write_text("image_id,partition\n" + "".join(f"{f.name},2\n" for f in sample_files[:2]))
    out = tmp_path / "subset"
    result = cli("subset", "--data", tmp_path / "celeba", "--list", listed, "--out", out)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f.name for f in sample_files[:2]] + [data.PARTITION_FILE])
    assert (out / sample_files[0].name).read_bytes() == sample_files[0].read_bytes()
    assert data.split_files(data.find_images(out), "test", out) == data.find_images(out)
    assert "0 images copied" in cli("subset", "--data", tmp_path / "celeba", "--list", listed,
                                    "--out", out).stdout  # again: nothing to do

    mine = out / sample_files[1].name
    mine.write_bytes(b"the user's own file")  # never overwritten
    assert_one_line_error(cli("subset", "--data", tmp_path / "celeba", "--list", listed, "--out", out),
                          "exists and differs")
    assert mine.read_bytes() == b"the user's own file"

    listed.write_text("image_id,partition\n000001.jpg,0\n")
    assert_one_line_error(cli("subset", "--data", tmp_path / "celeba", "--list", listed, "--out",
                              tmp_path / "other"), "1 of the 1 images", "000001.jpg", "dcgan-sr download")
    listed.write_text("name\nx.jpg\n")
    assert_one_line_error(cli("subset", "--data", tmp_path / "celeba", "--list", listed, "--out",
                              tmp_path / "other"), "image_id")
    assert not (tmp_path / "other").exists()


@pytest.mark.parametrize("content", ["image_id,part\n000001.jpg,0\n", "image_id,partition\n000001.jpg,x\n",
                                     "image_id,partition\n000001.jpg,7\n",
                                     "image_id,partition\n000001.jpg\n"])
def test_a_malformed_partition_file_is_one_line_naming_it(tmp_path, sample_files, cli, content):
    from conftest import assert_one_line_error

    folder = tmp_path / "faces"
    folder.mkdir()
    shutil.copy(sample_files[0], folder)
    (folder / data.PARTITION_FILE).write_text(content)
    with pytest.raises(UserError, match="list_eval_partition.csv: not CelebA's partition file"):
        data.split_files(data.find_images(folder), "test", folder)
    assert_one_line_error(cli("evaluate", "--data", folder), "list_eval_partition.csv", "delete it")


@pytest.mark.parametrize("damage", ["[]", "{not json", '{"splits": [1]}', '{"source": "x"}'])
def test_a_damaged_prepared_json_is_one_line_for_train_and_prepare_repairs_it(tmp_path, celeba_dir, cli,
                                                                           tiny_config, damage):
    from conftest import assert_one_line_error

    out = tmp_path / "prepared"
    assert cli("prepare", "--data", celeba_dir, "--out", out).returncode == 0
    (out / prepare.MANIFEST).write_text(damage)
    tiny_config.save(tmp_path / "tiny.json")
    assert_one_line_error(cli("train", "--data", out, "--out", tmp_path / "run", "--config",
                              tmp_path / "tiny.json", "--steps", "2", "--pretrain-steps", "0"),
                          "prepared.json is damaged", "dcgan-sr prepare")
    repaired = cli("prepare", "--data", celeba_dir, "--out", out)
    assert repaired.returncode == 0, repaired.stderr
    assert "writing it anew" in repaired.stderr
    assert set(prepare.manifest_splits(out)) >= {"train"}


def test_prepare_keeps_the_good_files_after_a_first_chunk_of_unreadable_ones(tmp_path, sample_files):
    """A chunk with no readable image (here the first) is skipped, not fatal: the split
    keeps the later good files, counts right, and no temporary file is left."""
    folder = tmp_path / "faces"
    folder.mkdir()
    for number in (1, 2, 3):
        (folder / f"{number:06d}.jpg").write_bytes(b"not a jpeg")
    for number, face in zip((4, 5), sample_files):
        shutil.copy(face, folder / f"{number:06d}.jpg")
    manifest = prepare.prepare(folder, tmp_path / "out", chunk=2)
    assert manifest["splits"]["train"] == {"images": 2, "skipped": 3}
    assert prepare.load_prepared(tmp_path / "out", "train").shape == (2, 128, 128, 3)
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if p.name.startswith(".tmp")) == []
    for number in (4, 5):
        (folder / f"{number:06d}.jpg").write_bytes(b"not a jpeg either")
    with pytest.raises(UserError, match="train: none of its 5 images could be read"):
        prepare.prepare(folder, tmp_path / "none", chunk=2)
    assert not [p for p in (tmp_path / "none").iterdir() if p.suffix == ".npy" or p.name.startswith(".tmp")]


def test_prepare_never_mixes_two_sources_in_one_folder(tmp_path, celeba_dir, sample_files):
    """prepare A, then B into the same folder: A's arrays were kept under B's name."""
    other = tmp_path / "other"
    other.mkdir()
    for i, path in enumerate(sample_files[:4]):
        shutil.copy(path, other / f"{1 + i:06d}.jpg")
    out = tmp_path / "prepared"
    prepare.prepare(celeba_dir, out)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    with pytest.raises(UserError, match=f"holds faces prepared from {celeba_dir.resolve()}"):
        prepare.prepare(other, out)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert prepare.prepare(celeba_dir, out)["splits"]["train"]["images"] == 24  # the same: resumed


def test_more_tfrecord_files_than_images_are_cut_to_one_image_each(tmp_path, celeba_dir, caplog):
    """--tfrecord-shards 500 on 24 images wrote 1,000 files, 968 of them empty."""
    pytest.importorskip("tensorflow")
    with caplog.at_level(logging.WARNING, logger="dcgan_sr"):
        manifest = prepare.prepare(celeba_dir, tmp_path / "out", tfrecord_shards=500)
    assert manifest["splits"]["train"]["tfrecord_shards"] == 24
    assert manifest["splits"]["val"]["tfrecord_shards"] == 8
    assert len(list((tmp_path / "out").glob("*.tfrecord"))) == 32
    assert "500 TFRecord files asked for 24 images" in caplog.text
