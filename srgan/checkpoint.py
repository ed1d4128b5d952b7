"""Generator weights (safetensors) and training checkpoints (torch, loaded with ``weights_only=True``).

Two file kinds, one of each concern:
  - ``*.safetensors``: generator weights only, architecture in the metadata. What eval/upscale/export read.
  - ``*.pt``: a training checkpoint, a dict of plain tensors, numbers and strings (models, optimizers,
    schedulers, step, RNG states, config). Never unpickles code.
``load_generator`` takes either, or a bare state dict saved with ``torch.save``, with or without the
``module.`` (DDP) and ``_orig_mod.`` (torch.compile) prefixes.
"""
from __future__ import annotations

import errno
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors import SafetensorError
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from .models import Generator

FORMAT_TAG = "srgan-generator"
_PREFIXES = ("module.", "_orig_mod.")


class CheckpointError(ValueError):
    """A weights or checkpoint file that cannot be used; the message is one line naming the file."""


def strip_prefixes(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Remove DDP ``module.`` and torch.compile ``_orig_mod.`` prefixes, wherever they are stacked."""
    clean = {}
    for key, value in state.items():
        while key.startswith(_PREFIXES):
            key = key.split(".", 1)[1]
        clean[key] = value
    return clean


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp_path)`` then fsync and rename over ``path``: readers see the old file or the new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the permissions a plain open() would
    try:
        write(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        failure = _write_failure(path, exc) if isinstance(exc, Exception) else None
        if os.path.exists(tmp):
            os.unlink(tmp)
        if failure is None:
            raise
        raise failure from exc
    return path


def _write_failure(path: Path, exc: Exception) -> OSError:
    """One line naming ``path``: writers fail in their own words (torch.save on a full disk raises a
    RuntimeError such as "unexpected pos 704 vs 598", safetensors an "os error 28")."""
    code = getattr(exc, "errno", None)
    detail = " ".join(str(exc).split()) or type(exc).__name__
    try:
        nearly_full = shutil.disk_usage(path.parent).free < 1 << 20  # measured before the temp file goes
    except OSError:
        nearly_full = False
    if code in (errno.ENOSPC, errno.EDQUOT) or "No space left" in detail or "os error 28" in detail or nearly_full:
        code, reason = errno.ENOSPC, "disk full, no space left on device"
    else:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else detail
    error = OSError(f"{path}: cannot write ({reason}); no existing file was replaced")
    error.errno = code
    return error


def save_generator(model: nn.Module, path: str | os.PathLike, metadata: dict[str, Any] | None = None) -> Path:
    """Write generator weights as safetensors; scale/num_blocks/channels go into the metadata."""
    model = getattr(model, "module", model)
    model = getattr(model, "_orig_mod", model)
    meta = {"format": FORMAT_TAG, **{k: str(v) for k, v in model.architecture.items()}}
    meta.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in (metadata or {}).items()})
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()}
    return atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=meta))


def infer_architecture(state: dict[str, torch.Tensor]) -> dict[str, int]:
    """Read scale, num_blocks and channels off a Generator state dict's keys and shapes."""
    if "head.0.weight" not in state:
        raise CheckpointError("not an srgan Generator state dict (no 'head.0.weight')")
    blocks = {int(m.group(1)) for k in state if (m := re.match(r"body\.(\d+)\.", k))}
    upsamplers = {int(m.group(1)) for k in state if (m := re.match(r"upsample\.(\d+)\.", k))}
    return {"scale": 2 ** len(upsamplers), "num_blocks": len(blocks), "channels": state["head.0.weight"].shape[0]}


def generator_from_state_dict(state: dict[str, torch.Tensor], architecture: dict[str, int] | None = None,
                              source: str = "state dict") -> Generator:
    state = strip_prefixes(state)
    try:
        architecture = architecture or infer_architecture(state)
        model = Generator(**architecture)
    except (CheckpointError, ValueError) as exc:
        raise CheckpointError(f"{source}: {exc}") from None
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in own.items()
             if k in state and state[k].shape != v.shape]
    if missing or unexpected or wrong:
        parts = [f"missing {_few(missing)}" if missing else "", f"unexpected {_few(unexpected)}" if unexpected else "",
                 f"shape mismatch {_few(wrong)}" if wrong else ""]
        raise CheckpointError(f"{source}: weights do not fit Generator({_arch_str(architecture)}): "
                              + "; ".join(p for p in parts if p))
    model.load_state_dict(state)
    return model.eval()


def load_generator(path: str | os.PathLike, device: str | torch.device = "cpu") -> Generator:
    """Build an eval-mode Generator from a .safetensors file, a training checkpoint or a saved state dict."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such weights file")
    if path.suffix == ".safetensors":
        try:
            state = load_file(path)
            with safe_open(path, framework="pt") as handle:
                meta = handle.metadata() or {}
        except (SafetensorError, OSError, ValueError) as exc:
            raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from None
        architecture = {k: int(meta[k]) for k in ("scale", "num_blocks", "channels") if k in meta} or None
        return generator_from_state_dict(state, architecture if architecture and len(architecture) == 3 else None,
                                         source=str(path)).to(device)
    checkpoint = load_checkpoint(path)
    state = checkpoint.get("generator", checkpoint) if isinstance(checkpoint, dict) else checkpoint
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected a state dict or an srgan checkpoint")
    return generator_from_state_dict(state, source=str(path)).to(device)


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike) -> Path:
    """Atomically write a training checkpoint (temp file, fsync, rename)."""
    return atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load a checkpoint without unpickling code (``weights_only=True``); bad files raise CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        if "weights_only" in str(exc) or "Unsupported global" in str(exc):
            reason = "it holds pickled objects other than tensors and plain data; refused for safety"
        raise CheckpointError(f"{path}: cannot load checkpoint: {reason}") from None


def _few(items: list[str], n: int = 4) -> str:
    return ", ".join(items[:n]) + (f" (+{len(items) - n} more)" if len(items) > n else "")


def _arch_str(architecture: dict[str, int] | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in (architecture or {}).items())
