"""Where benchmark and training data live, and how a name such as ``Set5`` finds its folder.

A *data root* has the layout of the project's shared data: ``benchmarks/<Set>/{HR,LR_bicubic_x4}/`` and
``train/<Set>/``. Roots are searched in this order:

1. ``--data-root DIR`` (when given, the only one searched, so a typo cannot fall through to other data);
2. ``$SRGAN_DATA`` (an error when it is set and not a folder: a typo must not fall through either);
3. ``../shared/data`` beside a source checkout (the development layout the tests use);
4. the user cache, ``data/`` in srgan's cache folder (:func:`default_cache_dir`: ``$SRGAN_CACHE_DIR``, else
   ``$XDG_CACHE_HOME/srgan``, else ``~/.cache/srgan``), where ``srgan data fetch`` downloads.
"""
from __future__ import annotations

import os
from pathlib import Path

#: Benchmark names (case-insensitive) -> folder below ``<root>/benchmarks``.
BENCHMARKS = {"set5": "Set5", "set14": "Set14", "bsd100": "BSD100", "urban100": "Urban100"}
#: Training set names -> folder below ``<root>/train``.
TRAINING = {"t91": "T91", "bsd200": "BSD200"}


def default_cache_dir() -> Path:
    """srgan's cache folder (decoded training images, OpenVINO models, LPIPS weights, downloaded data):
    ``$SRGAN_CACHE_DIR``, else ``$XDG_CACHE_HOME/srgan``, else ``~/.cache/srgan``."""
    if os.environ.get("SRGAN_CACHE_DIR"):
        return Path(os.environ["SRGAN_CACHE_DIR"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "srgan"
    return Path.home() / ".cache" / "srgan"


def cache_root() -> Path:
    """Where ``srgan data fetch`` downloads: ``data/`` in :func:`default_cache_dir` (it ignored
    ``$SRGAN_CACHE_DIR``, and a ``~`` in ``$XDG_CACHE_HOME``)."""
    return default_cache_dir() / "data"


#: The folder holding the package: a source checkout when pyproject.toml is beside it.
_CHECKOUT = Path(__file__).resolve().parents[1]


def _checkout_data() -> Path | None:
    # Only a source checkout (pyproject.toml beside the package) has a meaningful "../shared".
    return _CHECKOUT.parent / "shared" / "data" if (_CHECKOUT / "pyproject.toml").is_file() else None


def development_data() -> Path:
    """The shared data a source checkout's tests, benchmarks and scripts use: ``$SRGAN_DATA``, else
    ``../shared/data`` beside the checkout, wherever they are run from (a default of "../shared/data" worked
    from the repository root only)."""
    if os.environ.get("SRGAN_DATA"):
        return Path(os.environ["SRGAN_DATA"]).expanduser()
    return _CHECKOUT.parent / "shared" / "data"


def data_roots(data_root: str | os.PathLike | None = None, *, missing_env_ok: bool = False) -> list[Path]:
    """The data roots to search, in order (see the module docstring). ``$SRGAN_DATA`` naming no folder is an
    error (a typo fell through to the next root without a word, scoring other data), unless ``missing_env_ok``
    (``srgan data list``, before ``srgan data fetch`` makes it)."""
    if data_root:
        return [Path(data_root).expanduser()]
    roots = [p for p in (_checkout_data(),) if p is not None] + [cache_root()]
    if os.environ.get("SRGAN_DATA"):
        env = Path(os.environ["SRGAN_DATA"]).expanduser()
        if not env.is_dir() and not missing_env_ok:
            raise NotADirectoryError(f"$SRGAN_DATA={os.environ['SRGAN_DATA']}: no such folder (`srgan data fetch "
                                     f"NAME` makes it; or unset it to search {', '.join(map(str, roots))})")
        roots.insert(0, env)
    return list(dict.fromkeys(roots))


def download_root(data_root: str | os.PathLike | None = None) -> Path:
    """Where ``srgan data fetch`` writes: ``--data-root``, else ``$SRGAN_DATA``, else the user cache."""
    if data_root:
        return Path(data_root).expanduser()
    if os.environ.get("SRGAN_DATA"):
        return Path(os.environ["SRGAN_DATA"]).expanduser()
    return cache_root()


def locate(key: str, data_root: str | os.PathLike | None = None, *, missing_env_ok: bool = False) -> Path | None:
    """The folder of a known set (``set5``, ``t91``, ...) in the first root that has it, or None."""
    sub = f"benchmarks/{BENCHMARKS[key]}" if key in BENCHMARKS else f"train/{TRAINING[key]}"
    roots = data_roots(data_root, missing_env_ok=missing_env_ok)
    return next((root / sub for root in roots if (root / sub).is_dir()), None)


def resolve_benchmark(spec: str | os.PathLike, data_root: str | os.PathLike | None = None) -> Path:
    """A ``--data`` value as a folder: an existing folder as given, else a benchmark name looked up in the roots."""
    path = Path(spec).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise ValueError(f"{spec}: is a file; --data takes a benchmark folder (holding HR/) or a benchmark name")
    key = str(spec).lower()
    if key not in BENCHMARKS:
        raise ValueError(f"{spec}: no such folder, and not a benchmark name "
                         f"({', '.join(BENCHMARKS.values())})")
    found = locate(key, data_root)
    if found is not None:
        return found
    searched = ", ".join(str(root) for root in data_roots(data_root))
    # with the --data-root given, so that the download lands where this command looks (it went to the default)
    root = f" --data-root {data_root}" if data_root is not None else ""
    get = ("there is no checksummed download for it: put it in DIR/benchmarks/Urban100/HR yourself"
           if key == "urban100" else f"download it with `srgan data fetch {key}{root}`")
    raise ValueError(f"{spec}: benchmark not found under {searched}; {get}" +
                     ("" if root else " (or pass --data-root DIR, or set SRGAN_DATA)"))
