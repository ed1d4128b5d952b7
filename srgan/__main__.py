"""``python -m srgan`` (and ``torchrun -m srgan train ...``)."""
import sys

from .cli import main

sys.exit(main())
