"""The weights srgan ships in ``srgan/weights/``: their names, their files, and the one that runs by default.

Kept free of torch so that the command line can name its defaults without loading it.
"""
from __future__ import annotations

from pathlib import Path

#: In the package, so that an installed srgan has them.
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"

#: The names that stand for a shipped generator wherever a model is asked for (``--model srgan``).
NAMES = ("srresnet", "srgan")

#: What ``srgan upscale`` runs unless told otherwise. SRResNet, by measurement (docs/RESULTS.md, "Which model
#: upscale uses"): the shipped SRGAN-MSE is more natural by NIQE but sharpens the blocks of JPEG inputs, which
#: are most real photos; SRResNet leaves them smooth.
DEFAULT_MODEL = "srresnet"


def weights_file(name: str) -> Path:
    """The shipped file for ``name`` (``srresnet``, ``srgan``, ``srresnet_int8``), present or not."""
    return WEIGHTS_DIR / f"{name}.safetensors"
