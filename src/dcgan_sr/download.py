"""CelebA from Kaggle (`jessicali9530/celeba-dataset`), with a safe extraction.

The archive is downloaded and unpacked into a hidden folder beside the destination,
which is renamed into place only when everything is there: an interruption, a
network failure or a refused archive leaves nothing half-written at the destination.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import stat
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from dcgan_sr.errors import UserError, first_line

DATASET = "jessicali9530/celeba-dataset"
CELEBA_IMAGES = 202_599
NO_CREDENTIALS = (
    "no Kaggle credentials found: create an API token at https://www.kaggle.com/settings "
    "and save it as ~/.kaggle/kaggle.json (chmod 600), or set KAGGLE_USERNAME and KAGGLE_KEY "
    "(or KAGGLE_API_TOKEN); then run `dcgan-sr download` again")


def _config_dir() -> Path:
    return Path(os.environ.get("KAGGLE_CONFIG_DIR") or Path.home() / ".kaggle")


def has_credentials() -> bool:
    """Whether the kaggle package will find credentials (file or environment)."""
    env = os.environ
    if env.get("KAGGLE_API_TOKEN") or (env.get("KAGGLE_USERNAME") and env.get("KAGGLE_KEY")):
        return True
    return any((_config_dir() / name).is_file() for name in ("kaggle.json", "access_token"))


def count_images(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*.jpg")) if folder.is_dir() else 0


def _unsafe_reason(member: zipfile.ZipInfo) -> str | None:
    path = PurePosixPath(member.filename.replace("\\", "/"))
    if path.is_absolute() or (path.parts and path.parts[0].endswith(":")):
        return "an absolute path"
    if ".." in path.parts:
        return "a '..' component"
    if stat.S_ISLNK(member.external_attr >> 16):
        return "a symbolic link"
    return None


def safe_extract(archive: Path, dest: Path) -> None:
    """Extract a zip into `dest`, refusing members that could land outside it, and saying
    so in one line when the file is not a whole zip archive (cut short, or a web page)."""
    try:
        _extract(archive, dest)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as error:
        raise UserError(f"{archive}: not a complete zip archive ({first_line(error)}); the download "
                        "was cut short or is not the dataset: run `dcgan-sr download` again") from None


def _extract(archive: Path, dest: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        members = zf.infolist()
        for member in members:
            reason = _unsafe_reason(member)
            if reason:
                raise UserError(f"{archive}: refused, member {member.filename!r} has {reason}; "
                                "the archive is not the Kaggle CelebA dataset")
        root = dest.resolve()
        for member in members:
            target = (dest / member.filename).resolve()
            if not target.is_relative_to(root):
                raise UserError(f"{archive}: refused, member {member.filename!r} leaves {dest}")
            zf.extract(member, dest)


def check_token_file() -> None:
    """A kaggle.json that is there must be a token: a JSON object with a username and a key."""
    path = _config_dir() / "kaggle.json"
    if not path.is_file():
        return
    try:
        token = json.loads(path.read_text())
        if not (isinstance(token, dict) and isinstance(token.get("username"), str)
                and isinstance(token.get("key"), str) and token["username"] and token["key"]):
            raise ValueError("no username and key")
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise UserError(f"{path} is not a Kaggle API token ({first_line(error)}): download a new "
                        "one from https://www.kaggle.com/settings (Create New Token), save it "
                        "there (chmod 600), and run `dcgan-sr download` again") from None


def _kaggle_api():
    """An authenticated KaggleApi; importing kaggle prints and may exit without credentials."""
    check_token_file()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            from kaggle.api.kaggle_api_extended import KaggleApi
            api = KaggleApi()
            api.authenticate()
        except SystemExit:
            raise UserError(NO_CREDENTIALS) from None
        except Exception as error:  # noqa: BLE001 - the kaggle package raises many kinds
            raise UserError(f"Kaggle did not accept the credentials or could not be reached "
                            f"({type(error).__name__}: {first_line(error)[:160]}); check the token "
                            "and your network connection, then run `dcgan-sr download` again") from None
    return api


def download_celeba(dest: str | Path = "data/celeba", dataset: str = DATASET,
                    api=None) -> Path:
    """Download and unpack CelebA into `dest`; returns the folder of images.

    Does nothing when `dest` already holds all 202,599 images.
    """
    dest = Path(dest).absolute()  # "." has no name to put the partial folder beside
    if count_images(dest) >= CELEBA_IMAGES:
        print(f"{dest} already holds all {CELEBA_IMAGES:,} CelebA images; nothing to do")
        return dest
    if dest.exists() and any(dest.iterdir()):
        raise UserError(f"{dest} exists and is not empty (an incomplete copy?); move it away "
                        "or choose another --dest, then run `dcgan-sr download` again")
    if api is None:
        if not has_credentials():
            raise UserError(NO_CREDENTIALS)
        api = _kaggle_api()
    partial = dest.with_name(f".{dest.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        try:
            api.dataset_download_files(dataset, path=str(partial), unzip=False, quiet=False)
        except Exception as error:  # requests/urllib3/kagglesdk errors have no common base
            detail = str(error).splitlines()[0][:160] if str(error) else ""
            raise UserError(f"could not download {dataset} from Kaggle ({type(error).__name__}: "
                            f"{detail}); check your network connection and credentials, then "
                            "run `dcgan-sr download` again") from None
        archives = sorted(partial.glob("*.zip"))
        if not archives:
            raise UserError(f"Kaggle sent no archive for {dataset}; run `dcgan-sr download` again")
        unpacked = partial / "unpacked"
        safe_extract(archives[0], unpacked)
        if dest.exists():
            dest.rmdir()
        os.replace(unpacked, dest)
    except OSError as error:  # a full disk says no file: name the destination
        if error.filename is not None:
            raise
        raise OSError(error.errno, error.strerror or str(error), str(dest)) from error
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    print(f"{dest}: {count_images(dest):,} images")
    return dest
