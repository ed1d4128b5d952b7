"""Finding image files: :func:`find_images` expands files, folders and glob patterns into image paths."""
from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Iterable

from .images import IMAGE_EXTENSIONS, ImageNotFoundError


def _is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


def _scan_folder(root: Path) -> list[Path]:
    found = []
    # Linked folders are followed (a pool of links to datasets was skipped without a word), except one leading to a
    # folder the walk is already inside or to one above it (``..``, ``~``, ``/``): a loop, however many links it
    # takes, would never end, and a link up would scan the folders around the one named, or the whole disk.
    inside = {os.fspath(root): {os.path.realpath(root)}}  # each folder's real path and those of the folders above
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        above, kept = inside.pop(dirpath), []
        for d in dirnames:
            real = os.path.realpath(os.path.join(dirpath, d))
            if not d.startswith(".") and not any(os.path.commonpath([real, a]) == real for a in above):
                inside[os.path.join(dirpath, d)] = above | {real}
                kept.append(d)
        dirnames[:] = kept
        for name in filenames:
            if not name.startswith(".") and _is_image_name(name):
                full = Path(dirpath, name)
                if full.is_file():
                    found.append(full)
    return sorted(found, key=lambda p: p.relative_to(root).parts)


def find_images(inputs: Iterable[str | os.PathLike]) -> list[Path]:
    """Expand files, folders and glob patterns into a list of image paths.

    * a file is returned as given, whatever its extension (it was named explicitly);
    * a folder is searched recursively for files with an :data:`IMAGE_EXTENSIONS`
      extension (any case), skipping hidden files and folders (names starting with
      ``.``), following linked folders but not loops, sorted by relative path; an
      empty folder contributes nothing;
    * anything else containing ``*``, ``?`` or ``[`` is a glob pattern (``**`` recurses);
      matched files must have an image extension, or the one the pattern spells out (``'*.gif'`` names GIFs,
      as a shell's expansion would), matched folders are searched.

    The result keeps input order and drops repeats (same absolute path).  A path that
    does not exist, or a pattern that matches nothing, raises :class:`ImageNotFoundError`.
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    result: list[Path] = []
    seen: set[str] = set()

    def add(path: Path) -> None:
        key = os.path.abspath(path)
        if key not in seen:
            seen.add(key)
            result.append(path)

    for item in inputs:
        path = Path(item)
        if path.is_dir():
            for found in _scan_folder(path):
                add(found)
        elif path.exists():
            add(path)
        elif glob.has_magic(os.fspath(item)):
            matches = sorted(glob.glob(os.fspath(item), recursive=True))
            if not matches:
                raise ImageNotFoundError(item, "no files match this pattern")
            spelled = path.suffix.lower() if path.suffix and not glob.has_magic(path.suffix) else None
            for match in map(Path, matches):
                if match.is_dir():
                    for found in _scan_folder(match):
                        add(found)
                elif match.is_file() and (_is_image_name(match.name) or match.suffix.lower() == spelled):
                    add(match)
        elif path.is_symlink():
            raise ImageNotFoundError(item, "broken symbolic link")
        else:
            raise ImageNotFoundError(item, "no such file or folder")
    return result
