"""Finding image files: :func:`find_images` expands files, folders and glob patterns into image paths."""
from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Iterable

from .images import IMAGE_EXTENSIONS, ImageNotFoundError
from .outputs import first_and_more

#: Image formats that folder scans pass over: srgan cannot read some (HEIC without a plugin, camera raw), and the
#: rest are animations, icons or formats Pillow reads but photos rarely come in. Finding them is worth a line.
OTHER_IMAGE_EXTENSIONS = {".gif", ".apng", ".heic", ".heif", ".avif", ".jxl", ".jp2", ".j2k", ".jpe", ".psd", ".svg",
                          ".exr", ".hdr", ".dng", ".raw", ".cr2", ".cr3", ".nef", ".arw", ".orf", ".rw2", ".raf",
                          ".ico", ".tga", ".ppm", ".pgm", ".pnm", ".qoi"}


def _is_image_name(name: str) -> bool:
    """A file name with an extension folder scans read (outputs' naming knows more formats)."""
    return name.lower().endswith(IMAGE_EXTENSIONS)


def passed_over_note(others: list[Path]) -> str | None:
    """The one line for the files :func:`find_images` passed over (its ``others``), or None."""
    if not others:
        return None
    from PIL import Image

    # naming a file reads it, if Pillow can: a GIF, not a camera raw or (without a plugin) a HEIC
    readable = all(p.suffix.lower() in Image.registered_extensions() for p in others)
    return (f"left out {len(others)} file(s) in formats that folders are not scanned for: {first_and_more(others)}; "
            f"{'name them, or convert them to .png,' if readable else 'convert them to .png'} to use them "
            f"(scanned: {', '.join(IMAGE_EXTENSIONS)})")


def _scan_folder(root: Path, others: list[Path] | None = None, unreadable: list[str] | None = None) -> list[Path]:
    found = []

    def cannot_read(exc: OSError) -> None:  # os.walk passed over an unreadable folder without a word
        if unreadable is not None:
            unreadable.append(f"{exc.filename}: cannot read this folder ({exc.strerror}); its images are left out")

    # Linked folders are followed (a pool of links to datasets was skipped without a word), except one leading to a
    # folder the walk is already inside or to one above it (``..``, ``~``, ``/``): a loop, however many links it
    # takes, would never end, and a link up would scan the folders around the one named, or the whole disk.
    inside = {os.fspath(root): {os.path.realpath(root)}}  # each folder's real path and those of the folders above
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True, onerror=cannot_read):
        above, kept = inside.pop(dirpath), []
        for d in dirnames:
            real = os.path.realpath(os.path.join(dirpath, d))
            if not d.startswith(".") and not any(os.path.commonpath([real, a]) == real for a in above):
                inside[os.path.join(dirpath, d)] = above | {real}
                kept.append(d)
        dirnames[:] = kept
        for name in filenames:
            if name.startswith("."):
                continue
            if _is_image_name(name):
                full = Path(dirpath, name)
                if full.is_file():
                    found.append(full)
            elif others is not None and Path(name).suffix.lower() in OTHER_IMAGE_EXTENSIONS:
                others.append(Path(dirpath, name))
    return sorted(found, key=lambda p: p.relative_to(root).parts)


def find_images(inputs: Iterable[str | os.PathLike], *, others: list[Path] | None = None,
                unreadable: list[str] | None = None) -> list[Path]:
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
    ``others``: a list that collects the files in scanned folders with an :data:`OTHER_IMAGE_EXTENSIONS`
    extension (a GIF, a HEIC), which are passed over, for the caller to say so (:func:`passed_over_note`).
    ``unreadable``: a list that collects one line per folder the scan could not read (permissions).
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
            for found in _scan_folder(path, others, unreadable):
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
                    for found in _scan_folder(match, others, unreadable):
                        add(found)
                elif match.is_file() and (_is_image_name(match.name) or match.suffix.lower() == spelled):
                    add(match)
        elif path.is_symlink():
            raise ImageNotFoundError(item, "broken symbolic link")
        else:
            raise ImageNotFoundError(item, "no such file or folder")
    return result
