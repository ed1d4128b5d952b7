"""srgan: SRGAN (Ledig et al., CVPR 2017) for photo-realistic 4x single-image super-resolution."""

__version__ = "0.1.0"

from .checkpoint import load_generator, save_generator  # noqa: E402
from .models import Discriminator, Generator  # noqa: E402

__all__ = ["Generator", "Discriminator", "load_generator", "save_generator", "__version__"]

# Imported eagerly so that the functions, not the submodule srgan/upscale.py, are ``srgan.upscale`` and
# ``srgan.load_model`` (use ``sys.modules["srgan.upscale"]`` or ``from srgan.upscale import ...`` for the module).
# ``srgan.prepare`` builds the fast model once, for ``srgan.upscale(img, model=engine)`` over many images;
# ``srgan.upscale_file(model_or_engine, src, dest)`` reads, upscales and writes one file as the CLI does.
from .upscale import load_model, prepare, upscale, upscale_file  # noqa: E402

__all__ += ["load_model", "prepare", "upscale", "upscale_file"]
