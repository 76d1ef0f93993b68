"""The checkpoint store of a run folder: the GAN's whole training state, step-exact and
atomic, restored newest-first."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import keras

from dcgan_sr.errors import UserError, first_line
from dcgan_sr.io import write_atomic, write_json_atomic

log = logging.getLogger(__name__)


class Checkpoints:
    """The GAN's whole training state (G, D, both optimisers with their step counters)
    as `ckpt-<step>.weights.h5` files in one folder, the last `keep` of them, each with
    `ckpt-<step>.json` (its step and the run's accumulated wall time), and `latest.json`
    naming the newest. Each file is complete or absent: written under a temporary name,
    then renamed.

    Restoring tries the newest checkpoint first (the one `latest.json` names, else the
    highest step found in the folder) and falls back to older ones that load, saying
    which one it skipped and why; it never silently starts again from step 0.
    """

    def __init__(self, folder: Path, keep: int = 2):
        self.folder, self.keep = Path(folder), keep

    def files(self) -> list[Path]:
        """The checkpoint files present, newest first."""
        return sorted(self.folder.glob("ckpt-*.weights.h5"), reverse=True)

    @staticmethod
    def step_of(path: Path) -> int:
        return int(path.name.removeprefix("ckpt-").removesuffix(".weights.h5"))

    def newest_step(self) -> int:
        """The step of the newest checkpoint present (0 when there is none)."""
        latest, files = self.latest(), self.files()
        return latest["step"] if latest else self.step_of(files[0]) if files else 0

    def latest(self) -> dict | None:
        """`latest.json` when it is readable and its checkpoint exists, else None."""
        try:
            latest = json.loads((self.folder / "latest.json").read_text())
            return latest if (self.folder / latest["file"]).is_file() else None
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def save(self, gan: keras.Model, step: int, wall_seconds: float) -> Path:
        path = self.folder / f"ckpt-{step:07d}.weights.h5"
        write_atomic(path, gan.save_weights)
        entry = {"file": path.name, "step": step, "wall_seconds": round(wall_seconds, 3)}
        for index in (path.with_name(f"ckpt-{step:07d}.json"), self.folder / "latest.json"):
            write_json_atomic(index, entry, indent=None)
        for old in self.files()[self.keep:]:
            old.unlink()
            old.with_name(old.name.replace(".weights.h5", ".json")).unlink(missing_ok=True)
        return path

    def _wall_seconds(self, path: Path) -> float:
        try:
            return float(json.loads(path.with_name(
                path.name.replace(".weights.h5", ".json")).read_text())["wall_seconds"])
        except (OSError, ValueError, KeyError, TypeError):
            log.warning("%s: no readable record of its wall time; counting from 0 s", path.name)
            return 0.0

    def restore(self, gan: keras.Model, at_most: int | None = None) -> float | None:
        """Load the newest checkpoint (of step `at_most` or before) that loads into `gan`;
        returns the wall time it had run, or None when the folder holds no checkpoint at
        all. Raises UserError when there are checkpoints and none of them loads."""
        latest = self.latest()
        candidates = self.files()
        if at_most is not None:
            candidates = [c for c in candidates if self.step_of(c) <= at_most]
            latest = latest if latest and latest["step"] <= at_most else None
        if latest is None and at_most is None and (self.folder / "latest.json").exists():
            log.warning("%s is unreadable or names a missing file; looking for checkpoints "
                        "in the folder", self.folder / "latest.json")
        elif latest is not None:  # trust latest.json's choice first
            chosen = self.folder / latest["file"]
            candidates = [chosen] + [c for c in candidates if c != chosen]
        problems = []
        for path in candidates:
            try:
                gan.load_weights(path)
            except Exception as error:  # h5py and Keras raise several types for a bad file
                log.warning("%s could not be loaded (%s); trying an older checkpoint", path,
                            first_line(error))
                problems.append(path.name)
                continue
            if problems:
                log.warning("resuming from %s instead of %s", path.name, ", ".join(problems))
            return self._wall_seconds(path)
        if problems:
            raise UserError(f"{self.folder}: no checkpoint could be loaded ({', '.join(problems)}); "
                            "pass --overwrite to discard the run and start afresh")
        return None
