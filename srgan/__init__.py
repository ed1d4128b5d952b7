"""srgan: SRGAN (Ledig et al., CVPR 2017) for photo-realistic 4x single-image super-resolution.

The names below load on first use (PEP 562), not at ``import srgan``: the ``srgan`` command imports this package
before it can do anything, and torch alone takes over a second to import. Loading it lazily keeps
``srgan --help`` quick and lets the command's own Ctrl-C handler be in place before torch starts loading.

``srgan.upscale`` is the function; the module that holds it is :mod:`srgan.upscaling`. ``srgan.prepare``
(:mod:`srgan.engines`) builds the fast model once, for ``srgan.upscale(img, model=engine)`` over many images;
``srgan.upscale_file(model_or_engine, src, dest)`` reads, upscales and writes one file as the CLI does.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

#: Each public name and the submodule that defines it.
_PUBLIC = {
    "Generator": "models", "Discriminator": "models",
    "load_generator": "checkpoint", "save_generator": "checkpoint",
    "load_model": "engines", "prepare": "engines", "upscale": "upscaling", "upscale_file": "upscaling",
}

__all__ = ["Generator", "Discriminator", "load_generator", "save_generator", "load_model", "prepare", "upscale",
           "upscale_file", "__version__"]  # written out, not list(_PUBLIC), so that linters see what is exported

if TYPE_CHECKING:  # for type checkers and IDEs, which do not run __getattr__
    from .checkpoint import load_generator, save_generator
    from .models import Discriminator, Generator
    from .engines import load_model, prepare
    from .upscaling import upscale, upscale_file


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'srgan' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
    globals()[name] = value  # later lookups find it directly
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC})
