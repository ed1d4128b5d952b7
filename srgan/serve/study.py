"""A blind mean-opinion-score study on a folder of images: the layout, the ratings file, MOS with 95% CIs.

Layout (docs/SERVE.md)::

    DIR/<method>/<image>.png     one folder per method (HR, bicubic, srresnet, srgan, ...), the same image
                                 names in each; PNG, JPEG, WebP or BMP; hidden names are ignored
    DIR/ratings.jsonl            one JSON object per rating, appended by ``srgan serve --study DIR``
    DIR/mos.png                  the plot written by ``srgan study report DIR``

A stimulus is one (method, image) file. Each rater sees every stimulus once, in a random order, without its
method; scores are integers 1 (bad) to 5 (excellent), as in the SRGAN paper. Each rating is one line written
with a single ``write`` on an ``O_APPEND`` file and fsync'ed before the page is told it was saved, so a crash
loses at most a rating that was never confirmed (a torn last line is skipped, and counted, when reading).

This module needs no web framework: ``srgan study report`` runs without the ``serve`` extra.
"""
from __future__ import annotations

import json
import math
import os
import random
import re
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..images import IMAGE_EXTENSIONS, ImageError, read_size

RATINGS_FILE = "ratings.jsonl"
PLOT_FILE = "mos.png"
SCORES = range(1, 6)
RATER_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: What the rating page can show: srgan also reads TIFF, but browsers other than Safari do not display it.
BROWSER_EXTENSIONS = (".png", ".jpg", ".jpeg", ".jfif", ".webp", ".bmp")

# Student t 0.975 quantiles for 1..30 degrees of freedom (beyond 30 the Cornish-Fisher series below is
# within 1e-4); a table keeps scipy out of the runtime dependencies.
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
         2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
         2.045, 2.042)


@dataclass(frozen=True)
class Stimulus:
    method: str
    image: str  # file stem, the same across method folders
    path: Path


@dataclass(frozen=True)
class MethodScore:
    method: str
    n: int
    mos: float
    std: float
    ci95: float  # half-width: the interval is mos +- ci95 (nan for a single rating)


def check_study_folder(root: str | os.PathLike) -> Path:
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise ValueError(f"{root}: is a file, not a study folder (one subfolder of images per method)")
    if not root.is_dir():
        raise ValueError(f"{root}: study folder not found")
    return root


def scan(root: str | os.PathLike) -> list[Stimulus]:
    """Every ``DIR/<method>/<image>`` file. Files whose real path leaves ``root`` (symlinks) are not stimuli,
    so nothing outside the study folder can ever be served."""
    root = check_study_folder(root)
    real_root = root.resolve()
    found = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if not folder.name.isprintable():  # a newline in a method's name broke the report's table
            raise ValueError(f"{folder!r}: a method folder's name must be printable; rename it")
        for file in sorted(folder.iterdir()):
            if file.name.startswith(".") or file.suffix.lower() not in IMAGE_EXTENSIONS or not file.is_file():
                continue
            if not file.resolve().is_relative_to(real_root):
                continue
            twin = next((s.path for s in found if s.method == folder.name and s.image == file.stem), None)
            if twin is not None:  # a rating names (method, image): the two could not be told apart
                raise ValueError(f"{folder}: {twin.name} and {file.name} are one image name ({file.stem}); "
                                 "keep one of them")
            found.append(Stimulus(folder.name, file.stem, file))
    if not found:
        raise ValueError(f"{root}: no images in method folders (expected DIR/<method>/<image>.png; see docs/SERVE.md)")
    return found


def read_ratings(root: str | os.PathLike) -> tuple[list[dict], int]:
    """(valid ratings, number of unreadable lines) from ``DIR/ratings.jsonl``; no file means no ratings."""
    path = Path(root) / RATINGS_FILE
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return [], 0
    ratings, bad = [], 0
    for line in filter(str.strip, lines):
        try:
            r = json.loads(line)
            ok = (isinstance(r, dict) and type(r.get("score")) is int and r["score"] in SCORES  # true == 1, 4.0 == 4
                  and isinstance(r.get("method"), str))
        except (ValueError, RecursionError):  # RecursionError: a line of "[" * 100000
            ok = False
        if ok:
            ratings.append(r)
        else:
            bad += 1
    return ratings, bad


def open_ratings_file(root: str | os.PathLike) -> None:
    """Check, before any rater comes, that ratings can be appended to ``DIR/ratings.jsonl`` (a read-only
    folder failed at the first rating, which was lost), and end the file with a newline if its last line has
    none (a torn write, a hand edit): the next rating would have been glued to it, and both lines lost."""
    path = Path(root) / RATINGS_FILE
    existed = os.path.lexists(path)
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as exc:
        raise ValueError(f"{path}: cannot be written ({exc.strerror or exc}); raters' scores could not be "
                         "saved") from None
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            os.write(fd, b"\n")
            os.fsync(fd)
    finally:
        os.close(fd)
    if not existed:  # the probe leaves the folder as it was
        path.unlink()


def append_rating(root: str | os.PathLike, record: dict) -> None:
    """Append one rating as one line, durable when this returns (one write on O_APPEND, then fsync)."""
    data = (json.dumps(record, sort_keys=True) + "\n").encode()
    fd = os.open(Path(root) / RATINGS_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


class Study:
    """What the rating page needs: the next blind stimulus for a rater, and recording its score.

    The page only ever sees an opaque token for the stimulus it is shown (the image is fetched by token), so
    neither the method nor the file path reaches the browser. Each rater holds at most one token.
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.stimuli = scan(self.root)
        # Refused rather than converted on the fly: raters then see exactly the files the study was made of.
        unshown = [s.path for s in self.stimuli if s.path.suffix.lower() not in BROWSER_EXTENSIONS]
        if unshown:
            raise ValueError(f"{unshown[0]}: browsers cannot show {unshown[0].suffix} images, so raters would see "
                             f"none ({len(unshown)} such file(s) in the study); save them as .png (or "
                             f"{', '.join(BROWSER_EXTENSIONS[1:])})")
        for s in self.stimuli:  # a file a browser cannot show stays unrated, and its raters never finish
            try:
                read_size(s.path)
            except ImageError as exc:
                raise ValueError(f"{exc}; raters could not see it: replace or remove it") from None
        open_ratings_file(self.root)
        self._lock = threading.Lock()
        self._rated: dict[str, set[tuple[str, str]]] = {}
        ratings, self._unreadable = read_ratings(self.root)
        for r in ratings:  # resuming a study: raters keep what they already did
            self._rated.setdefault(str(r.get("rater")), set()).add((r["method"], str(r.get("image"))))
        self._shown: dict[str, tuple[str, Stimulus]] = {}  # token -> (rater, stimulus)
        self._token_of: dict[str, str] = {}  # rater -> token

    def warnings(self) -> list[str]:
        """What makes the study uneven, worth a word at startup: methods lacking images the others have, and
        unreadable lines in the ratings file (skipped), as read when the study was opened."""
        images = {s.image for s in self.stimuli}
        lines = []
        for method in dict.fromkeys(s.method for s in self.stimuli):
            lacking = sorted(images - {s.image for s in self.stimuli if s.method == method})
            if lacking:
                lines.append(f"{self.root / method}: lacks {len(lacking)} image(s) the other methods have "
                             f"({', '.join(lacking[:3])}{', ...' if len(lacking) > 3 else ''}); its MOS is over "
                             "fewer images")
        if self._unreadable:
            lines.append(f"{self.root / RATINGS_FILE}: {self._unreadable} unreadable line(s), skipped")
        return lines

    def next_for(self, rater: str) -> dict:
        """``{"done": False, "token", "rated", "total"}``, or ``{"done": True, ...}`` when all are rated."""
        with self._lock:
            rated = self._rated.get(rater, set())
            left = [s for s in self.stimuli if (s.method, s.image) not in rated]
            self._shown.pop(self._token_of.pop(rater, ""), None)
            progress = {"rated": len(self.stimuli) - len(left), "total": len(self.stimuli)}
            if not left:
                return {"done": True, **progress}
            token = secrets.token_urlsafe(16)
            self._shown[token] = (rater, random.choice(left))
            self._token_of[rater] = token
            return {"done": False, "token": token, **progress}

    def file_for(self, token: str) -> Path | None:
        shown = self._shown.get(token)
        return shown[1].path if shown else None

    def rate(self, rater: str, token: str, score: int) -> None:
        """Store a score for the stimulus ``token`` showed ``rater``. KeyError: no such token for this rater."""
        with self._lock:
            shown = self._shown.get(token)
            if shown is None or shown[0] != rater:
                raise KeyError(token)
            stimulus = shown[1]
            append_rating(self.root, {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "rater": rater,
                                      "method": stimulus.method, "image": stimulus.image, "score": score})
            self._rated.setdefault(rater, set()).add((stimulus.method, stimulus.image))
            del self._shown[token], self._token_of[rater]


# --------------------------------------------------------------------------- report


def t975(df: int) -> float:
    """Two-sided 95% Student t critical value."""
    if df <= len(_T975):
        return _T975[df - 1]
    z = 1.959964
    return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2)


def summarize(ratings: list[dict]) -> list[MethodScore]:
    """MOS per method with the t-based 95% confidence interval of the mean, best first."""
    by_method: dict[str, list[int]] = {}
    for r in ratings:
        by_method.setdefault(r["method"], []).append(r["score"])
    rows = []
    for method, scores in by_method.items():
        n = len(scores)
        mos = sum(scores) / n
        std = math.sqrt(sum((s - mos) ** 2 for s in scores) / (n - 1)) if n > 1 else math.nan
        rows.append(MethodScore(method, n, mos, std, t975(n - 1) * std / math.sqrt(n) if n > 1 else math.nan))
    return sorted(rows, key=lambda row: -row.mos)

