"""``python -m srgan`` (and ``torchrun -m srgan train ...``)."""
import sys

if getattr(sys.modules.get(__package__), "__file__", None) is None:
    # Run in a folder that holds a folder named srgan (a clone of this project), Python takes that folder for a
    # namespace package before an editable install's finder is asked, and srgan/__init__.py never runs ("cannot
    # import name '__version__'"). This file's own package takes its place.
    import importlib.util
    from pathlib import Path

    here = Path(__file__).resolve().parent
    spec = importlib.util.spec_from_file_location(__package__, here / "__init__.py",
                                                  submodule_search_locations=[str(here)])
    sys.modules[__package__] = package = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(package)

from .cli import main  # noqa: E402 (after the package is the real one)

sys.exit(main())
