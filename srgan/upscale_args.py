"""The options of ``srgan upscale``, including the spellings Real-ESRGAN's ``inference_realesrgan.py`` taught
users (``-i``, ``-o``, ``-n``, ``-s``, ``-t``, ``--suffix``, ``--fp32``, ``--tile-pad``)."""
from __future__ import annotations

import argparse

from .images import IMAGE_EXTENSIONS
from .upscale import DEFAULT_MODEL


def add_upscale_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="image files, folders (recursive) or globs")
    p.add_argument("-i", "--input", action="append", metavar="INPUT",
                   help="an input as an option (repeatable), as in Real-ESRGAN")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="output folder, or an image file name for one input (its extension picks the format)")
    p.add_argument("-n", "--model", default=DEFAULT_MODEL,
                   help="srresnet | srgan | a weights/checkpoint PATH (srresnet: no grid or JPEG-block artefacts "
                        "on real photos; srgan: more natural texture, see docs/RESULTS.md)")
    p.add_argument("-s", "--outscale", type=float, default=None, metavar="S",
                   help="final scale, any number: the model's own x4, then Pillow's Lanczos resize to S "
                        "(default: the model's scale, no resize)")
    p.add_argument("--suffix", default="",
                   help="append _SUFFIX to output names (photo.jpg -> photo_SUFFIX.png); required when the "
                        "output folder is the input folder")
    p.add_argument("-t", "--tile", default="auto",
                   help="tile size in LR pixels, or 0 for no tiling; 'auto' picks the largest tile that fits "
                        "half the free memory (at most 1.5 GiB on a CPU, 8 GiB on a GPU). Tiling is exact")
    p.add_argument("--tile-pad", type=int, default=None, metavar="N",
                   help="accepted and ignored: tiles here always carry the model's whole receptive field, so "
                        "the output equals the untiled one and no padding is needed")
    p.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU) | cpu | cuda | cuda:N | mps")
    p.add_argument("--precision", default="auto",
                   help="auto | fp32 | bf16 | fp16 | int8; auto = bf16 on CPUs with native bf16 (AMX/AVX512-BF16) "
                        "and on CUDA (fp16 where bf16 is missing), fp32 elsewhere (`srgan info` says which). "
                        "int8 (opt-in, CPU): the srresnet's int8 weights run by OpenVINO (pip install "
                        "'srgan[openvino]'): 1.8-2.0x the bf16 path on a 2-core Zen 4 with VNNI, 0.03 dB less PSNR on Set5 "
                        "(docs/PERFORMANCE.md)")
    p.add_argument("--backend", default="torch", choices=["torch", "openvino"],
                   help="openvino: OpenVINO on the CPU (pip install 'srgan[openvino]'; faster on AMX CPUs, see "
                        "docs/PERFORMANCE.md; the model is converted once, then cached)")
    p.add_argument("--fp32", action="store_true", help="same as --precision fp32 (Real-ESRGAN's spelling)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.add_argument("--png-level", type=int, default=1, choices=range(10), metavar="0-9",
                   help="PNG zlib level: 1 encodes ~1.4x faster than 6 for ~2%% more bytes on SR photos, 0 "
                        "stores uncompressed (~30%% more), 9 is smallest and slowest")
    p.add_argument("--ext", default=".png",
                   help=f"output format when OUT is a folder: {', '.join(IMAGE_EXTENSIONS)} or 'keep' "
                        "(the input's)")
    p.add_argument("--max-pixels", type=int, default=None, metavar="N",
                   help="refuse inputs with more pixels (decompression-bomb limit; default 200000000)")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bar (drawn on a terminal only), no closing line; warnings and errors remain")
