"""srgan: SRGAN (Ledig et al., CVPR 2017) for photo-realistic 4x single-image super-resolution."""

__version__ = "0.1.0"
