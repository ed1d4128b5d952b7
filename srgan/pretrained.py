"""Finding pretrained weight files that srgan does not ship: ImageNet backbones and LPIPS' linear layers.

Each file is looked for in this order, and never replaced by random weights (a perceptual loss or metric on a
random network silently measures the wrong thing): an explicit path, an environment variable, a cache file
(torchvision's ``$TORCH_HOME/hub/checkpoints`` for its ImageNet files, so one download serves both), and last a
download from the official URL, bounded by the file's known size and checked against its full sha256 (the
torch hub checks only the 8 hex digits in torchvision's file names), renamed into the cache only once it matched.
"""
from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import torch


class WeightsMissing(FileNotFoundError):
    """Pretrained weights were needed and not found; the message says every way to provide them."""


def torch_cache_file(filename: str) -> Path:
    """Where torchvision keeps (and looks for) a downloaded ImageNet file."""
    torch_home = Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch"))
    return torch_home / "hub" / "checkpoints" / filename


def find_weights(path: str | os.PathLike | None, *, env: str, cached: Path, url: str, sha256: str, size: int,
                 what: str, give: str, download: bool = True, missing: type[WeightsMissing] = WeightsMissing,
                 note: str = "") -> Path:
    """The weights file, from ``path``, ``$env``, ``cached`` or ``url`` (``size`` bytes with that ``sha256``,
    saved to ``cached``); else ``missing`` (a :class:`WeightsMissing`) naming each of those ways: ``give`` says how
    to pass a path, ``note`` ends it."""
    for candidate, origin in ((path, "the given path"), (os.environ.get(env), f"${env}")):
        if candidate:
            if not Path(candidate).expanduser().is_file():
                raise missing(f"{what} weights file from {origin} not found: {candidate}")
            return Path(candidate).expanduser()
    if cached.is_file():
        return cached
    reason = ""
    if download:
        try:
            return download_file(url, cached, sha256=sha256, size=size)
        except OSError as exc:
            reason = f" (download failed: {exc})"
    raise missing(f"{what} weights are needed and were not found{reason}. Give a path ({give}), set ${env}, or "
                  f"place {cached.name} at {cached} (from {url}).{' ' + note if note else ''}")


#: The sha256 of each weights file hashed in this process, by (device, inode, size, mtime): ``srgan eval --metrics
#: lpips --json`` checks the 244 MB AlexNet file on load and records its sha256 in the report, and read it twice.
_DIGESTS: dict[tuple[int, int, int, int], str] = {}


def _identity(path: Path) -> tuple[int, int, int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns  # a replaced or rewritten file is another key


def weights_sha256(path: Path) -> str:
    """``path``'s sha256, read once per process while the file stays the same."""
    from .fetch import file_sha256

    key = _identity(path)
    if key not in _DIGESTS:
        _DIGESTS[key] = file_sha256(path)
    return _DIGESTS[key]


def say_if_unpublished(path: Path, sha256: str, log: logging.Logger, named: str, consequence: str) -> None:
    """Warn on ``log`` when the weights file at ``path`` is not the published one (``sha256``): any file of the
    right shape loads, and a random-init one gave numbers without a word (LPIPS 0.0096 on Set5; a VGG19 content
    loss of 1e-10). Hashing costs about 0.2 s per 244 MB (the AlexNet file) on a Zen 4."""
    if weights_sha256(path) != sha256:
        log.warning("%s: not %s weights (another sha256): %s", path, named, consequence)


def download_file(url: str, dest: Path, *, sha256: str, size: int) -> Path:
    """Download ``url`` to ``dest`` atomically (a temporary file beside it, renamed once the sha256 matched);
    FetchError (an OSError) otherwise, and nothing is left behind. ``size``, the file's length in bytes, bounds
    what is taken and how long it may take (:func:`srgan.fetch.download`)."""
    from .fetch import download
    from .files import make_folder, plain_file_mode, remove_if_empty

    created = make_folder(dest.parent)
    handle, tmp = tempfile.mkstemp(dir=dest.parent, suffix=".part")
    os.close(handle)
    try:
        download(url, Path(tmp), sha256, hint="", size=size)
        plain_file_mode(tmp)  # a file of the shared torch cache
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        remove_if_empty(created)  # the cache folders this made, left empty
        raise
    _DIGESTS[_identity(dest)] = sha256  # download() checked it: the load's check need not read the file again
    return dest


def load_state_dict_file(path: Path, what: str) -> dict[str, torch.Tensor]:
    """A ``torch.save``d state dict, read safely (``weights_only``, zip bombs refused as checkpoints are: a path
    from a config or the environment is untrusted input); ValueError, one line, for anything else."""
    from .checkpoint import load_problem, zip_bomb_problem

    if problem := zip_bomb_problem(path):
        raise ValueError(f"{path}: cannot read {what} weights: {problem}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt or unsafe file: one clear line (torch's own advises weights_only=False)
        raise ValueError(f"{path}: cannot read {what} weights: {load_problem(exc, path)}") from None
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state dict, got {type(state).__name__}")
    return state


def load_matching(module: torch.nn.Module, state: dict[str, torch.Tensor], what: str, prefix: str = "") -> None:
    """Load ``module``'s own keys from ``state`` (as ``prefix + key``); extra entries are ignored, a missing or
    misshapen one is a ValueError naming the first few."""
    own = module.state_dict()
    missing = [prefix + k for k in own if prefix + k not in state]
    if missing:
        raise ValueError(f"not {what} state dict: missing {', '.join(missing[:4])}")
    bad = [f"{prefix + k} {tuple(state[prefix + k].shape)} != {tuple(v.shape)}" for k, v in own.items()
           if state[prefix + k].shape != v.shape]
    if bad:
        raise ValueError(f"not {what} state dict: {'; '.join(bad[:4])}")
    module.load_state_dict({k: state[prefix + k] for k in own})
