"""What every writer of files shares (upscaled images, checkpoints, logs, reports, ONNX, downloads): checks made
before long work, the names of temporary files, the atomic replace, the folders a failed write leaves behind, and
the one line a failed write reads as."""
from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterable


#: The longest file name (bytes) of the usual file systems: ext4, XFS, btrfs, tmpfs, APFS; NTFS in UTF-16 units.
NAME_MAX = 255


def temp_prefix(dest: Path) -> str:
    """The hidden prefix of ``dest``'s temporary files, ``.NAME.``, to which writers add 8 random hex digits and
    ``.tmp``: the name is shortened so that the temporary name fits :data:`NAME_MAX` when ``dest``'s does (a
    242-255 byte name used to fail as "File name too long", naming the temporary file)."""
    room = NAME_MAX - len("..") - 8 - len(".tmp")
    return "." + os.fsencode(dest.name)[:room].decode("utf-8", "ignore") + "."


def name_problem(path: Path) -> str | None:
    """Why no file system would take ``path``'s file name, or None."""
    size = len(os.fsencode(path.name))
    return f"file name too long ({size} bytes; at most {NAME_MAX})" if size > NAME_MAX else None


def folder_name_problem(path: Path) -> str | None:
    """Why no file system would take one of ``path``'s folder names, or None (``Path.is_file()`` of such a path
    raises "[Errno 36] File name too long" rather than answering)."""
    size = max((len(os.fsencode(part)) for part in Path(path).parts), default=0)
    return f"folder name too long ({size} bytes; at most {NAME_MAX})" if size > NAME_MAX else None


def file_output_problem(path: Path) -> str | None:
    """Why a file cannot be written at ``path``, or None; checked before long work, creating nothing: a name
    too long, or a nearest existing folder above it that is a file or cannot be written."""
    problem = name_problem(path) or folder_name_problem(Path(path).parent)
    if problem:
        return problem
    for part in Path(os.path.abspath(path)).parents:
        if os.path.lexists(part):
            if not part.is_dir():
                return PARENT_IS_FILE
            if not os.access(part, os.W_OK | os.X_OK):
                return f"{part}: folder is not writable"
            return None
    return None


def without_made_up_folders(path: str | os.PathLike) -> Path:
    """``path`` with each missing folder that a ``..`` leaves again taken out: the OS reaches ``x/..`` only once
    ``x`` exists, so writing ``x/../r.json`` made an empty folder ``x`` and left it (and an existence check of the
    literal path said no for an ``r.json`` that was there). A ``..`` after an existing folder is left to the OS,
    which follows a symbolic link before going up (``x/../link/../r.json`` keeps ``link/..``)."""
    kept: list[str] = []
    for part in Path(path).parts:
        if part == ".." and kept and kept[-1] != ".." and not os.path.lexists(Path(*kept)):
            kept.pop()  # x/.. with no x: the OS would make x first
        else:
            kept.append(part)
    return Path(*kept) if kept else Path(".")


def missing_folders(folders: Iterable[Path]) -> list[Path]:
    """The folders (and parents) among ``folders`` that do not exist yet, deepest first: what writing into them
    would create, so that a run that writes nothing can remove them again (:func:`remove_if_empty`)."""
    missing: set[Path] = set()
    for folder in folders:
        for part in [folder, *folder.parents]:
            if part.exists() or part == Path("."):
                break
            missing.add(part)
    return sorted(missing, key=lambda p: len(p.parts), reverse=True)


def make_folder(folder: Path, failure: str | None = None) -> list[Path]:
    """Create ``folder`` with its missing parents; return those it made, deepest first, for :func:`remove_if_empty`
    once a write into them fails. A failure removes what it made and raises the OSError, or, given ``failure``
    (e.g. "config 'out_dir': cannot create runs/x"), an OSError reading ``<failure> (<reason>)`` with the same
    errno: mkdir's own words name some parent (:func:`mkdir_problem`)."""
    made = missing_folders([folder])
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        remove_if_empty(made)
        if failure is None:
            raise
        error = OSError(f"{failure} ({mkdir_problem(exc)})")
        error.errno = exc.errno
        raise error from None
    return made


#: What a file where a folder should be reads as (mkdir's "[Errno 17] File exists" or "[Errno 20] Not a directory").
PARENT_IS_FILE = "a parent is a file, not a folder"


def mkdir_problem(exc: OSError) -> str:
    """Why a ``mkdir(parents=True)`` failed, in words: a file in the way reads as that, not "[Errno 17] File
    exists" or "[Errno 20] Not a directory" naming some parent."""
    if isinstance(exc, (FileExistsError, NotADirectoryError)):
        return PARENT_IS_FILE
    return exc.strerror or str(exc)


def remove_if_empty(folders: list[Path]) -> None:
    for folder in folders:
        try:
            folder.rmdir()  # only succeeds when empty: never removes anything written
        except OSError:
            pass


def fsync_folder(folder: Path) -> None:
    """Persist a rename into ``folder`` itself (best effort: not every platform can open a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def file_identity(path: Path) -> tuple[int, int]:
    """(device, inode): the same for every name of one file (links, case-folding spellings)."""
    st = path.stat()
    return st.st_dev, st.st_ino


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp_path)`` then fsync and rename over ``path``: readers see the old file or the new one."""
    path = without_made_up_folders(path)
    # (it was a bare "[Errno 17] File exists: 'notes.txt'" for notes.txt/model.onnx)
    made = make_folder(path.parent, failure=f"{path}: cannot create its folder")
    tmp = None
    try:
        problem = name_problem(path)
        if problem:  # before the work that write() may be
            raise OSError(errno.ENAMETOOLONG, problem)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(path), suffix=".tmp")
        os.close(fd)
        write(tmp)
        plain_file_mode(tmp)  # after the write: safetensors recreates the file 0600 whatever it was
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        fsync_folder(path.parent)  # the rename too: after a crash the folder could still hold the old file
    except BaseException as exc:
        failure = write_failure(path, exc) if isinstance(exc, Exception) else None
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        remove_if_empty(made)  # a failed write leaves no folder it made
        if failure is None:
            raise
        raise failure from exc
    return path


def plain_file_mode(path: str | os.PathLike) -> None:
    """Give a temporary file the permissions a plain open() would (mkstemp makes it 0600, owner only)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def write_failure(path: Path, exc: Exception, consequence: str = "no existing file was replaced") -> OSError:
    """One line naming ``path``, a full disk called so, and what was kept (``consequence``; "" for nothing):
    writers fail in their own words (torch.save on a full disk raises a RuntimeError such as "unexpected pos
    704 vs 598", safetensors an "os error 28")."""
    code = getattr(exc, "errno", None)
    detail = " ".join(str(exc).split()) or type(exc).__name__
    try:
        nearly_full = shutil.disk_usage(path.parent).free < 1 << 20  # measured before the temp file goes
    except OSError:
        nearly_full = False
    # A nearly full disk explains a failure without an errno (torch's RuntimeError), not one that has its own:
    # /proc reports no free space, and export to /proc/x.onnx (ENOENT) said "disk full".
    if code in (errno.ENOSPC, errno.EDQUOT) or "No space left" in detail or "os error 28" in detail or (
            code is None and nearly_full):
        code, reason = errno.ENOSPC, "disk full, no space left on device"
    else:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else detail
    error = OSError(f"{path}: cannot write ({reason}){f'; {consequence}' if consequence else ''}")
    error.errno = code
    return error
