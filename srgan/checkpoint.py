"""Generator weights (safetensors) and training checkpoints (torch, loaded with ``weights_only=True``).

Two file kinds, one of each concern:
  - ``*.safetensors``: generator weights only, architecture in the metadata. What eval/upscale/export read.
  - ``*.pt``: a training checkpoint, a dict of plain tensors, numbers and strings (models, optimizers,
    schedulers, step, RNG states, config). Never unpickles code.
``load_generator`` takes either, or a bare state dict saved with ``torch.save``, with or without the
``module.`` (DDP) and ``_orig_mod.`` (torch.compile) prefixes, or one that other training code wrapped
(:data:`WRAPPERS`, a prefix such as Lightning's ``generator.``: :func:`generator_parts`).

Weights files are untrusted input. Before anything is built, the architecture (from the metadata or read off
the tensor names) is bounded and every tensor name and shape is compared with what that Generator expects,
computed on the meta device (no memory); a ``.pt`` zip that would inflate beyond its size is refused before
torch reads it; NaN/Inf weights are refused. Each refusal is one line naming the file.
"""
from __future__ import annotations

import errno
import json
import os
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any, Callable, NamedTuple

import torch
from safetensors import SafetensorError
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from .device import resolve_device
from .models import MAX_BLOCKS, MAX_CHANNELS, SUPPORTED_SCALES, Generator
from .files import atomic_write
from .outputs import few

FORMAT_TAG = "srgan-generator"
INT8_FORMAT_TAG = "int8"  # srgan.quantize's weights files: int8 convolutions
_PREFIXES = ("module.", "_orig_mod.")
ARCHITECTURE_KEYS = ("scale", "num_blocks", "channels")
#: Where other training code keeps a generator's state dict in the file it saves, looked in when the file itself is
#: none: srgan's training checkpoints ("generator"), BasicSR ("params_ema" and "params"), Lightning ("state_dict"),
#: and "model" / "netG" elsewhere. One level down only: a deeper guess could pick the wrong network.
WRAPPERS = ("generator", "params_ema", "params", "state_dict", "model", "netG")
#: torch.save stores zip records uncompressed, so a checkpoint inflates to about its own size. One whose records
#: claim more than this many times the file's size (plus 1 MiB) is a zip bomb; refused before torch reads it.
MAX_INFLATION = 2


class CheckpointError(ValueError):
    """A weights or checkpoint file that cannot be used; the message is one line naming the file."""


def strip_prefixes(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Remove DDP ``module.`` and torch.compile ``_orig_mod.`` prefixes, wherever they are stacked."""
    clean = {}
    for key, value in state.items():
        while isinstance(key, str) and key.startswith(_PREFIXES):
            key = key.split(".", 1)[1]
        clean[key] = value
    return clean


def is_safetensors(path: str | os.PathLike) -> bool:
    """Whether a file name says safetensors, in any case (``G.SAFETENSORS`` loaded by one loader and was read as a
    torch.save file by another)."""
    return Path(path).suffix.lower() == ".safetensors"


def save_generator(model: nn.Module, path: str | os.PathLike, metadata: dict[str, Any] | None = None) -> Path:
    """Write generator weights as safetensors; scale/num_blocks/channels go into the metadata.

    Refused (ValueError/TypeError) rather than written, as no loader would read them back: a name not ending in
    ``.safetensors`` (loaders go by it), a module other than a :class:`Generator` (its fast form, a
    discriminator, a subclass: it would load as the plain Generator), NaN or Inf weights, and ``metadata`` keys
    that would replace the format or architecture.
    """
    model = getattr(model, "module", model)
    model = getattr(model, "_orig_mod", model)
    if type(model) is not Generator:  # a subclass loaded back as the plain Generator, with another forward
        raise TypeError(f"save_generator saves an srgan Generator, got {type(model).__name__}; a subclass would load "
                        "back as the plain Generator: save its state_dict() with torch.save or safetensors")
    if not is_safetensors(path):
        raise ValueError(f"{path}: generator weights are safetensors; name the file .safetensors")
    clash = sorted({"format", *ARCHITECTURE_KEYS} & set(metadata or {}))
    if clash:
        raise ValueError(f"metadata {clash[0]!r} is written by save_generator itself (format and architecture); "
                         "use another key")
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()}
    refuse_nonfinite(tensors, str(path))
    return save_weights_file(path, tensors, FORMAT_TAG, model.architecture, metadata)


def save_weights_file(path: str | os.PathLike, tensors: dict[str, torch.Tensor], format_tag: str,
                      architecture: dict[str, int], metadata: dict[str, Any] | None = None) -> Path:
    """The one weights layout (float or int8): safetensors whose metadata holds the format tag, the
    architecture and the caller's notes (strings as they are, anything else as JSON); written atomically."""
    meta = {"format": format_tag, **{k: str(v) for k, v in architecture.items()}}
    meta.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in (metadata or {}).items()})
    return atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=meta))


def infer_architecture(shapes: dict[str, tuple[int, ...]]) -> dict[str, int]:
    """Read scale, num_blocks and channels off a Generator state dict's names and shapes."""
    head = shapes.get("head.0.weight")
    if head is None:
        raise CheckpointError("not an srgan Generator state dict (no 'head.0.weight')")
    if len(head) != 4:
        raise CheckpointError(f"not an srgan Generator state dict ('head.0.weight' has shape {tuple(head)})")
    blocks = {int(m.group(1)) for k in shapes if (m := re.match(r"body\.(\d+)\.", k))}
    upsamplers = {int(m.group(1)) for k in shapes if (m := re.match(r"upsample\.(\d+)\.", k))}
    return {"scale": 2 ** min(len(upsamplers), 16), "num_blocks": len(blocks), "channels": int(head[0])}


def check_architecture(architecture: dict[str, Any]) -> dict[str, int]:
    """Whole numbers within bounds (metadata values are strings), or CheckpointError naming the key."""
    checked = {}
    for key in ARCHITECTURE_KEYS:
        value = architecture[key]
        try:
            number = int(value) if isinstance(value, (int, str)) and not isinstance(value, bool) else None
        except ValueError:
            number = None
        if number is None:
            raise CheckpointError(f"metadata {key!r} is not a whole number: {str(value)[:40]!r}")
        checked[key] = number
    if checked["scale"] not in SUPPORTED_SCALES:
        raise CheckpointError(f"scale {checked['scale']} is not one of {SUPPORTED_SCALES}")
    for key, top in (("num_blocks", MAX_BLOCKS), ("channels", MAX_CHANNELS)):
        if not 1 <= checked[key] <= top:
            raise CheckpointError(f"{key} {checked[key]} is outside 1..{top}; refused before building anything")
    return checked


def expected_shapes(architecture: dict[str, int]) -> dict[str, tuple[int, ...]]:
    """Every tensor name and shape of ``Generator(**architecture)``, built on the meta device (no memory)."""
    with torch.device("meta"):
        model = Generator(**architecture)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def check_generator_shapes(shapes: dict[str, tuple[int, ...]], architecture: dict[str, Any] | None,
                           source: str) -> dict[str, int]:
    """The checked architecture, if ``shapes`` are exactly its Generator's; else one-line CheckpointError."""
    try:
        architecture = check_architecture(architecture or infer_architecture(shapes))
    except CheckpointError as exc:
        raise CheckpointError(f"{source}: {exc}") from None
    own = expected_shapes(architecture)
    missing = sorted(set(own) - set(shapes))
    unexpected = sorted(set(shapes) - set(own))
    wrong = [f"{k} {tuple(shapes[k])} vs {v}" for k, v in own.items() if k in shapes and tuple(shapes[k]) != v]
    if missing or unexpected or wrong:
        parts = [f"missing {few(missing, 4)}" if missing else "",
                 f"unexpected {few(unexpected, 4)}" if unexpected else "",
                 f"shape mismatch {few(wrong, 4)}" if wrong else ""]
        raise CheckpointError(f"{source}: weights do not fit Generator({_arch_str(architecture)}): "
                              + "; ".join(p for p in parts if p))
    return architecture


def nonfinite_tensors(tree: Any, prefix: str = "") -> list[str]:
    """Names of the floating-point tensors holding NaN or Inf anywhere in nested dicts/lists."""
    if isinstance(tree, torch.Tensor):
        return [prefix or "tensor"] if tree.is_floating_point() and not bool(torch.isfinite(tree).all()) else []
    if isinstance(tree, dict):
        items = tree.items()
    elif isinstance(tree, (list, tuple)):
        items = enumerate(tree)
    else:
        return []
    return [name for k, v in items for name in nonfinite_tensors(v, f"{prefix}.{k}" if prefix else str(k))]


def refuse_nonfinite(state: dict[str, torch.Tensor], source: str) -> None:
    bad = nonfinite_tensors(state)
    if bad:
        raise CheckpointError(f"{source}: weights hold NaN or Inf values (in {few(bad, 4)}); refused")


def generator_from_state_dict(state: dict[str, Any], architecture: dict[str, Any] | None = None,
                              source: str = "state dict") -> Generator:
    state = strip_prefixes(state)
    shapes = {k: tuple(v.shape) for k, v in state.items() if isinstance(v, torch.Tensor)}
    architecture = check_generator_shapes(shapes, architecture, source)
    not_tensors = sorted(set(state) - set(shapes))
    if not_tensors:
        raise CheckpointError(f"{source}: not a state dict of tensors ({few(not_tensors, 4)} are not tensors)")
    refuse_nonfinite(state, source)
    model = Generator(**architecture)
    model.load_state_dict(state)
    return model.eval()


def _read_safetensors(path: Path) -> Generator:
    """Names, shapes and metadata first (the header only); the tensors once they are known to fit."""
    try:
        with safe_open(path, framework="pt") as handle:
            meta = handle.metadata() or {}
            shapes = {k: tuple(handle.get_slice(k).get_shape()) for k in handle.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise unreadable_safetensors(path, exc) from None
    if meta.get("format") == INT8_FORMAT_TAG:
        raise CheckpointError(f"{path}: int8 weights, which only --precision int8 runs (srgan upscale / eval); "
                              "anything else needs the float weights they were made from")
    architecture = {k: meta[k] for k in ARCHITECTURE_KEYS if k in meta}
    part = pick_part(generator_parts(shapes), str(path))
    if part is None and len(architecture) < 3:
        raise not_a_generator(shapes, str(path), peers=False)  # resolve_model reads peers' .pth files only
    prefix = part.prefix if part else ""  # metadata's architecture names what is missing
    check_generator_shapes(under(shapes, prefix), architecture if len(architecture) == 3 else None, str(path))
    try:
        state = load_file(path)
    except (SafetensorError, OSError, ValueError) as exc:
        raise unreadable_safetensors(path, exc) from None
    return generator_from_state_dict(under(state, prefix), architecture if len(architecture) == 3 else None,
                                     source=str(path))


def load_generator(path: str | os.PathLike, device: str | torch.device = "cpu") -> Generator:
    """Build an eval-mode Generator from a .safetensors file, a training checkpoint or a saved state dict."""
    path = Path(path)
    if not path.is_file():
        from .shipped import NAMES

        hint = f"; the shipped {path} loads by name with srgan.load_model({str(path)!r})" if str(path) in NAMES else ""
        raise CheckpointError(f"{path}: no such weights file{hint}")
    device = resolve_device(device)  # before the work: "gpu" failed in torch's words, after the file was read
    if is_safetensors(path):
        return _read_safetensors(path).to(device)
    return generator_from_checkpoint(load_checkpoint(path), str(path)).to(device)


class Part(NamedTuple):
    """A generator's state dict found in a loaded file: under ``wrapper`` (None: the file itself), then under
    ``prefix`` ("" for none; DDP's and torch.compile's are removed anyway)."""
    wrapper: str | None
    prefix: str
    state: dict

    def __str__(self) -> str:
        return ": ".join(p for p in (self.wrapper, f"{self.prefix}*" if self.prefix else "") if p) or "the file itself"


def under(tree: dict, prefix: str) -> dict:
    """The entries of ``tree`` whose names start with ``prefix`` (after DDP/compile prefixes), without it."""
    return strip_prefixes({k[len(prefix):]: v for k, v in strip_prefixes(tree).items() if k.startswith(prefix)})


def generator_parts(tree: dict, anchor: str = "head.0.weight",
                    fits: Callable[[dict], bool] = lambda state: True) -> list[Part]:
    """Every part of a loaded file (or of a safetensors header's shapes) that is a generator state dict holding
    ``anchor`` and passing ``fits``: the file itself, a :data:`WRAPPERS` entry, or the names under one prefix of
    either, such as ``generator.`` in a Lightning module that keeps its ``discriminator.`` beside it."""
    found = []
    for wrapper in (None, *WRAPPERS):
        part = tree if wrapper is None else tree.get(wrapper)
        if not isinstance(part, dict) or not all(isinstance(k, str) for k in part):
            continue
        names = strip_prefixes(part)
        prefixes = {k[:-len(anchor)] for k in names if k == anchor or k.endswith("." + anchor)}
        found += [Part(wrapper, p, state) for p in sorted(prefixes) if fits(state := under(names, p))]
    return found


def pick_part(parts: list[Part], source: str) -> Part | None:
    """The one part to load, or None for none; two that could be meant are refused, naming them. The file itself
    wins (a plain state dict); BasicSR's ``params_ema`` wins over its ``params``: the averaged weights, which
    BasicSR's tests and Real-ESRGAN's inference load."""
    plain = next((p for p in parts if p.wrapper is None and not p.prefix), None)
    if plain is not None:
        return plain
    if any(p.wrapper == "params_ema" for p in parts):
        parts = [p for p in parts if p.wrapper != "params"]
    if len(parts) > 1:
        raise CheckpointError(f"{source}: holds {len(parts)} generator state dicts ({few(parts, 4)}); "
                              "save the one to load on its own (torch.save(state_dict)) and load that")
    return parts[0] if parts else None


def not_a_generator(tree: Any, source: str, peers: bool = True) -> CheckpointError:
    """Why a loaded file holds no srgan Generator, in one line: what it holds instead (its first names, and those
    of a wrapper), or, with ``peers``, that ``srgan.load_model`` runs it (leftthomas/SRGAN's layout)."""
    if not isinstance(tree, dict):
        return CheckpointError(f"{source}: expected a state dict or an srgan checkpoint, got {type(tree).__name__}")
    from .peers import leftthomas_part  # peers builds on this module

    if peers and leftthomas_part(tree, source) is not None:
        return CheckpointError(f"{source}: a leftthomas/SRGAN generator, not srgan's Generator layout; "
                               f"srgan.load_model({source!r}) or --model {source} runs it")
    inner = next((w for w in WRAPPERS if isinstance(tree.get(w), dict) and tree[w]), None)
    inside = f"; under {inner!r}: {few(tree[inner], 3)}" if inner else ""
    return CheckpointError(f"{source}: not an srgan Generator state dict (no 'head.0.weight'); "
                           f"its keys: {few(tree, 3) or 'none'}{inside}")


def generator_from_checkpoint(checkpoint: Any, source: str) -> Generator:
    """The Generator in what ``torch.load`` returned: a state dict, bare or as :func:`generator_parts` finds it."""
    part = pick_part(generator_parts(checkpoint), source) if isinstance(checkpoint, dict) else None
    if part is None:
        raise not_a_generator(checkpoint, source)
    return generator_from_state_dict(part.state, source=source)


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike) -> Path:
    """Atomically write a training checkpoint (temp file, fsync, rename)."""
    return atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_checkpoint(path: str | os.PathLike, *, mmap: bool = False) -> dict[str, Any]:
    """Load a checkpoint without unpickling code (``weights_only=True``); bad files raise CheckpointError.
    ``mmap``: map the tensors' bytes instead of reading them (to look at a large checkpoint's small entries)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: cannot load checkpoint: empty file (0 bytes)")
    if is_safetensors(path):  # "not a torch.save file (... need the .safetensors extension)" said the opposite
        raise CheckpointError(f"{path}: generator weights (safetensors), not a training checkpoint; "
                              "load_generator reads them")
    if problem := zip_bomb_problem(path):
        raise CheckpointError(f"{path}: cannot load checkpoint: {problem}")
    try:
        with warnings.catch_warnings():  # torch's deprecation notes about old files are not the user's business
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as exc:
        raise CheckpointError(f"{path}: cannot load checkpoint: {load_problem(exc, path)}") from None


NOT_TORCH_SAVE = "not a torch.save file (safetensors weights need the .safetensors extension)"


def _starts_like_torch_save(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            head = handle.read(2)
    except OSError:
        return True  # unreadable: torch.load's own error says why
    return head == b"PK" or head.startswith(b"\x80")


def load_problem(exc: BaseException, path: Path | None = None) -> str:
    """What torch.load's multi-paragraph error about ``path`` says, in a few words.

    Every failure of the weights-only unpickler mentions ``weights_only``, so that word alone does not mean the
    file holds code: an image or a random file fails there too, on the first byte that is not a pickle opcode.
    A text file failed deeper in torch's legacy reader ("list index out of range"); torch.save files start as a
    zip (``PK``) or, before torch 1.6, a protocol-2 pickle (``\x80``), so the first bytes tell.
    """
    if path is not None and not _starts_like_torch_save(path):
        if Path(path).suffix.lower() == ".onnx":  # "safetensors weights need the .safetensors extension" misled
            return ("an ONNX model, which onnxruntime or OpenVINO runs; srgan reads its own weights (.safetensors) "
                    "or checkpoints (.pt)")
        return NOT_TORCH_SAVE
    text = " ".join(str(exc).split())
    # "Unsupported global: GLOBAL builtins.exec", or, for a blocked module (os.system), "Trying to load
    # unsupported GLOBAL posix.system whose module posix is blocked"
    refused = re.search(r"[Uu]nsupported (?:global: )?GLOBAL (\S+)", text)
    if refused:
        # a class (srgan.models.Generator, __main__.Net, torch.optim.adam.Adam): most often a model saved whole;
        # exec, posix.system and other functions are what code-running pickles call
        whole = ("; if it is a model saved whole (torch.save(model)), save model.state_dict() instead (torch.save "
                 "or safetensors) and load that" if refused[1].rsplit(".", 1)[-1][:1].isupper() else "")
        return f"it holds pickled objects other than tensors and plain data ({refused[1]}); refused for safety{whole}"
    if "Unsupported operand" in text or "invalid load key" in text or isinstance(exc, (KeyError, EOFError)):
        return NOT_TORCH_SAVE
    if "inline_container" in text:  # "[enforce fail at inline_container.cc:180] . file in archive is not in ..."
        return "a zip archive, but not a torch.save file (numpy's .npz is one too)"
    detail = re.search(r"WeightsUnpickler error: (.*?) Check the documentation", text)
    if detail:
        return f"refused by the weights-only loader ({detail[1]})"
    first = text.split(". ")[0] or exc.__class__.__name__
    # torch's zip reader: "PytorchStreamReader failed ...", or EINVAL when the cut falls elsewhere in the archive
    corrupt = "PytorchStreamReader" in text or (isinstance(exc, OSError) and exc.errno == errno.EINVAL)
    return f"truncated or corrupt ({first})" if corrupt else first


def zip_bomb_problem(path: Path) -> str | None:
    """Why a ``torch.save`` file must not be loaded, or None: what a zip file's records inflate to is in its
    directory, bounded here before torch allocates it."""
    try:
        with zipfile.ZipFile(path) as archive:
            inflated = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return None  # not a zip (a legacy torch file) or a broken one: torch.load says what is wrong
    size = path.stat().st_size
    if inflated > MAX_INFLATION * size + (1 << 20):
        return (f"its zip records would inflate to {inflated:,} bytes from a {size:,}-byte file (torch.save does "
                "not compress); refused")
    return None


def unreadable_safetensors(path, exc: BaseException) -> CheckpointError:
    """The one-line error for a safetensors file that cannot be read (an empty one says so: safetensors calls it
    "header too small")."""
    empty = Path(path).is_file() and Path(path).stat().st_size == 0
    if not empty and Path(path).is_file() and _starts_like_torch_save(path):  # safetensors: "header too large"
        return CheckpointError(f"{path}: a torch.save file named .safetensors; rename it to .pt")
    return CheckpointError(f"{path}: not a readable safetensors file ({'empty file, 0 bytes' if empty else one_line(exc)})")


def one_line(exc: BaseException) -> str:
    """An error's first line for a one-line message; its class name when it says nothing. A first line that ends
    in a colon takes the next one ("Error(s) in loading state_dict for Generator:" said nothing more)."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if not lines:
        return exc.__class__.__name__
    if not (lines[0].endswith(":") and len(lines) > 1):
        return lines[0]
    text = f"{lines[0]} {lines[1]}"
    return text if len(text) <= 400 else text[:397] + "..."  # a missing-keys list can run to thousands of chars


def _arch_str(architecture: dict[str, int] | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in (architecture or {}).items())
