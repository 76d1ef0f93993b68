import io
import os
import stat
import subprocess
import sys
import zipfile

import pytest

from dcgan_sr import download
from dcgan_sr.errors import UserError


class FakeKaggle:
    """Stands in for KaggleApi: 'downloads' a prepared zip into the requested folder."""

    def __init__(self, archive_bytes: bytes):
        self.archive_bytes = archive_bytes
        self.calls = 0

    def dataset_download_files(self, dataset, path, unzip, quiet):
        assert dataset == download.DATASET and unzip is False
        self.calls += 1
        with open(os.path.join(path, "celeba-dataset.zip"), "wb") as handle:
            handle.write(self.archive_bytes)


def make_zip(members: dict[str, bytes], symlinks: dict[str, str] = {}) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, content in members.items():
            zf.writestr(name, content)
        for name, target in symlinks.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return buffer.getvalue()


def kaggle_layout(sample_files, n=3) -> dict[str, bytes]:
    members = {f"img_align_celeba/img_align_celeba/{p.name}": p.read_bytes() for p in sample_files[:n]}
    members["list_eval_partition.csv"] = b"image_id,partition\n"
    return members


def test_good_archive_is_unpacked_and_a_complete_copy_is_left_alone(tmp_path, sample_files, monkeypatch):
    dest = tmp_path / "celeba"
    api = FakeKaggle(make_zip(kaggle_layout(sample_files)))
    download.download_celeba(dest, api=api)
    assert download.count_images(dest) == 3
    assert (dest / "list_eval_partition.csv").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["celeba"]  # no partial folder left
    monkeypatch.setattr(download, "CELEBA_IMAGES", 3)
    download.download_celeba(dest, api=api)
    assert api.calls == 1


@pytest.mark.parametrize("name, reason", [
    ("../evil.jpg", "'..' component"),
    ("img_align_celeba/../../evil.jpg", "'..' component"),
    ("/tmp/evil.jpg", "absolute path"),
])
def test_members_leaving_the_destination_are_refused(tmp_path, sample_files, name, reason):
    members = kaggle_layout(sample_files) | {name: b"x"}
    dest = tmp_path / "d" / "celeba"
    with pytest.raises(UserError, match=reason):
        download.download_celeba(dest, api=FakeKaggle(make_zip(members)))
    assert not dest.exists() and not (tmp_path / "evil.jpg").exists()
    assert list((tmp_path / "d").iterdir()) == []


def test_symlink_members_are_refused(tmp_path, sample_files):
    archive = make_zip(kaggle_layout(sample_files), symlinks={"img_align_celeba/link": "/etc"})
    with pytest.raises(UserError, match="symbolic link"):
        download.download_celeba(tmp_path / "celeba", api=FakeKaggle(archive))
    assert not (tmp_path / "celeba").exists()


def test_a_non_empty_destination_is_not_overwritten(tmp_path, sample_files):
    dest = tmp_path / "celeba"
    dest.mkdir()
    (dest / "mine.txt").write_text("keep")
    with pytest.raises(UserError, match="not empty"):
        download.download_celeba(dest, api=FakeKaggle(make_zip(kaggle_layout(sample_files))))
    assert (dest / "mine.txt").read_text() == "keep"


def _cli_download(tmp_path, **env):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("KAGGLE_")}
    environ.update(HOME=str(tmp_path / "home"), **env)
    return subprocess.run([sys.executable, "-m", "dcgan_sr.cli", "download", "--dest",
                           str(tmp_path / "celeba")], env=environ, capture_output=True,
                          text=True, timeout=120)


def test_without_credentials_the_cli_says_what_to_do(tmp_path):
    result = _cli_download(tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]  # one line, no traceback
    assert "no Kaggle credentials" in result.stderr and "kaggle.json" in result.stderr
    assert not (tmp_path / "celeba").exists()


def test_network_down_is_one_line_and_leaves_nothing(tmp_path):
    result = _cli_download(tmp_path, KAGGLE_USERNAME="someone", KAGGLE_KEY="secret-key-123",
                           HTTPS_PROXY="http://127.0.0.1:9", HTTP_PROXY="http://127.0.0.1:9",
                           NO_PROXY="")
    assert result.returncode == 2, result.stderr
    assert "could not download" in result.stderr and "Traceback" not in result.stderr
    assert "secret-key-123" not in result.stderr + result.stdout
    assert not any(tmp_path.glob("*celeba*"))


def test_the_current_folder_as_destination(tmp_path, sample_files, monkeypatch):
    """`dcgan-sr download --dest .` in an empty folder unpacks there (it raised ValueError:
    '.' has an empty name)."""
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    download.download_celeba(".", api=FakeKaggle(make_zip(kaggle_layout(sample_files))))
    assert download.count_images(here) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["here"]


@pytest.mark.parametrize("content", ['{"username": "someone"}', "not json", "[]",
                                     '{"username": "", "key": ""}'])
def test_a_malformed_kaggle_json_is_named_not_called_missing(tmp_path, content):
    config = tmp_path / "kaggle"
    config.mkdir()
    (config / "kaggle.json").write_text(content)
    result = _cli_download(tmp_path, KAGGLE_CONFIG_DIR=str(config))
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "kaggle.json is not a Kaggle API token" in result.stderr and "Create New Token" in result.stderr
    assert "no Kaggle credentials" not in result.stderr


def test_a_token_kaggle_refuses_offline_is_exit_2_with_advice(tmp_path):
    """A well-formed but wrong token with the network down: exit 2 and advice (it was exit 1
    with the connection library's raw text)."""
    result = _cli_download(tmp_path, KAGGLE_API_TOKEN="secret-key-456",  # checked online at once
                           HTTPS_PROXY="http://127.0.0.1:9", HTTP_PROXY="http://127.0.0.1:9", NO_PROXY="")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "run `dcgan-sr download` again" in result.stderr
    assert "secret-key-456" not in result.stderr + result.stdout


@pytest.mark.parametrize("archive", [make_zip({"a.jpg": bytes(5000)})[:-40],
                                     b"<!DOCTYPE html><html>Sign in to Kaggle</html>"])
def test_a_truncated_archive_or_a_web_page_is_one_line(tmp_path, archive):
    """zipfile.BadZipFile escaped as a traceback (the partial folder was cleaned)."""
    with pytest.raises(UserError, match="not a complete zip archive"):
        download.download_celeba(tmp_path / "celeba", api=FakeKaggle(archive))
    assert not (tmp_path / "celeba").exists() and not list(tmp_path.glob(".*partial"))


def test_a_full_disk_names_the_destination(tmp_path, sample_files, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(download, "safe_extract", full)
    with pytest.raises(OSError) as error:
        download.download_celeba(tmp_path / "celeba", api=FakeKaggle(make_zip(kaggle_layout(sample_files))))
    assert error.value.filename == str(tmp_path / "celeba")
