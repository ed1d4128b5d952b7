"""srgan.upscaling / srgan.tiling / srgan.inference: exact tiling, the API's types, the CLI on every image mode."""
from __future__ import annotations

import os
import re
import warnings

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F
from PIL import Image

import srgan
from srgan import images
from srgan.checkpoint import save_generator
from srgan.cli import main
from srgan.inference import FastGenerator, receptive_radius
from srgan.loading import BicubicUpscaler
from srgan.models import Generator
from srgan.tiling import Engine, choose_tiles, windows
from srgan.engines import prepare
from srgan.upscaling import upscale_file, upscale_planes

# Tiny tiles are how tiling's exactness is tested; the API's warning that they are slow is its own test's business.
pytestmark = pytest.mark.filterwarnings("ignore:tile=\\d+ recomputes")


def _tiny(scale=4, blocks=2, channels=8, seed=0):
    torch.manual_seed(seed)
    g = Generator(scale=scale, num_blocks=blocks, channels=channels).eval()
    with torch.no_grad():  # non-trivial eval-mode BatchNorm and PReLU, so folding is really tested
        for m in g.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.3, 0.3)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
            elif isinstance(m, torch.nn.PReLU):
                m.weight.uniform_(0.05, 0.4)
    return g


@pytest.fixture(scope="module")
def tiny_model():
    return _tiny()


@pytest.fixture(scope="module")
def weights(tmp_path_factory, tiny_model):
    return save_generator(tiny_model, tmp_path_factory.mktemp("w") / "tiny.safetensors")


# --------------------------------------------------------------------------- fast path and tiling


@pytest.mark.parametrize("scale", [2, 4, 8])
def test_fast_generator_matches_generator(scale):
    g = _tiny(scale=scale)
    fg = FastGenerator(g).to(memory_format=torch.channels_last)
    x = torch.rand(2, 3, 13, 10)
    with torch.inference_mode():
        ref = g(x)
        out = fg(x.contiguous(memory_format=torch.channels_last))
    assert out.shape == ref.shape
    assert (out - ref).abs().max().item() <= 1e-5


def test_receptive_radius_from_architecture_is_tight():
    g = _tiny(blocks=2)
    fg = FastGenerator(g)
    # head 9x9 (4) + 2 blocks x 2 convs (4) + body tail (1) = 9; upsampling + tail: 1 + 1/2 + 4/4 -> 3
    assert (fg.features_radius, fg.reconstruct_radius) == (9, 3)
    assert receptive_radius(g) == (11.5, 4.0)
    assert receptive_radius(Generator()) == (39.5, 4.0)
    # Empirical: the gradient of one output pixel reaches exactly this far into the input.
    x = torch.rand(1, 3, 41, 41, requires_grad=True)
    g(x)[0, :, 4 * 20 + 1, 4 * 20 + 2].sum().backward()
    rows, cols = torch.nonzero(x.grad[0].abs().sum(0), as_tuple=True)
    reach = max((rows - 20).abs().max().item(), (cols - 20).abs().max().item())
    assert 11 <= reach <= fg.features_radius + fg.reconstruct_radius


class _FunctionalConv(nn.Module):
    """A user's x2 module whose 15x15 convolution is a parameter passed to F.conv2d: no layer for the walk."""
    scale = 2

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(12, 3, 15, 15, generator=torch.Generator().manual_seed(0)) * 0.01)

    def forward(self, x):
        return torch.sigmoid(F.pixel_shuffle(F.conv2d(x, self.weight, padding=7), 2))


class _WideFunctionalConv(_FunctionalConv):
    """Six 15x15 convolutions through F.conv2d: a local radius of 42, more than the first probe's 32 px."""

    def forward(self, x):
        y = x
        for _ in range(5):
            y = F.conv2d(y, self.weight[:3], padding=7)
        return torch.sigmoid(F.pixel_shuffle(F.conv2d(y, self.weight, padding=7)[:, :12], 2))


class _BufferBlur(nn.Module):
    """A conv, then a fixed 15x15 blur kept as a buffer, and an AvgPool2d: nothing the walk sees but the conv."""
    scale = 1

    def __init__(self):
        super().__init__()
        self.conv, self.pool = nn.Conv2d(3, 3, 3, padding=1), nn.AvgPool2d(5, 1, 2)
        self.register_buffer("kernel", torch.ones(3, 1, 15, 15) / 225)

    def forward(self, x):
        return torch.sigmoid(self.pool(F.conv2d(self.conv(x), self.kernel, padding=7, groups=3)))


class _NoGradConv(_FunctionalConv):
    """A forward under no_grad: no gradient to measure with."""

    @torch.no_grad()
    def forward(self, x):
        return super().forward(x)


class _ChannelAttention(nn.Module):
    """A user's x2 module with RCAN-style channel attention: each output pixel depends on the whole image."""
    scale = 2

    def __init__(self):
        super().__init__()
        self.conv, self.pool = nn.Conv2d(3, 12, 3, padding=1), nn.AdaptiveAvgPool2d(1)

    def forward(self, x):
        y = self.conv(x)
        return torch.sigmoid(F.pixel_shuffle(y * torch.sigmoid(self.pool(y)), 2))


def test_a_users_module_is_tiled_exactly_or_warned_about():
    """The walk saw a radius of 0 in _FunctionalConv, so tiles lacked 7 px of context: seams 0.108 off (27 levels).
    The radius of a module with weights outside the layers the walk knows is now measured (also under
    inference_mode); where no tile can be exact, or the radius cannot be measured, a warning says so."""
    x = torch.rand(3, 90, 120, generator=torch.Generator().manual_seed(1))
    module = _FunctionalConv().eval()
    assert receptive_radius(module) == (0.0, 1.0)  # no layer seen at all
    with torch.inference_mode():
        assert prepare(module, device="cpu", precision="fp32").radius == 7 + 1
    assert prepare(_WideFunctionalConv().eval(), device="cpu", precision="fp32").radius == 42 + 1
    assert prepare(_BufferBlur().eval(), device="cpu", precision="fp32").radius == 1 + 7 + 2 + 1  # walked: 1 + 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the small-tile advice
        tiled = srgan.upscale(x, model=module, precision="fp32", tile=16)
    assert (tiled - srgan.upscale(x, model=module, precision="fp32", tile=0)).abs().max() < 1e-6
    with pytest.warns(UserWarning, match="_ChannelAttention: its AdaptiveAvgPool2d makes each output pixel depend on "
                                         "the whole input, .* pass tile=0") as caught:
        prepare(_ChannelAttention().eval(), device="cpu", precision="fp32")
    assert caught[0].filename == __file__  # the caller's line, not srgan's
    with pytest.warns(UserWarning, match="_NoGradConv: its receptive radius could not be measured .* 'radius'"):
        prepare(_NoGradConv().eval(), device="cpu", precision="fp32")
    calls = []  # a module of plain layers is walked, not run: its forward is not called
    plain = nn.Sequential(nn.Conv2d(3, 12, 3, padding=1), nn.PixelShuffle(2)).eval()
    plain.scale = 2
    plain.register_forward_hook(lambda *args: calls.append(1))
    prepare(plain, device="cpu", precision="fp32")
    assert calls == []


def test_windows_cover_cores_with_margin():
    for length, tile, margin in [(37, 5, 3), (100, 33, 12), (20, 50, 4), (64, 16, 0)]:
        wlen, parts = windows(0, length, 0, length, tile, margin)
        assert parts[0][0] == 0 and parts[-1][1] == length
        for (a, b, start), nxt in zip(parts, parts[1:] + [None]):
            assert b - a <= tile and 0 <= start and start + wlen <= length
            assert a - start >= margin or start == 0
            assert start + wlen - b >= margin or start + wlen == length
            if nxt:
                assert nxt[0] == b


@pytest.mark.parametrize("tile", [5, 7, 13, 24, "auto"])
def test_tiled_equals_untiled(tiny_model, tile):
    engine = prepare(tiny_model, "cpu", "fp32")
    x = torch.rand(3, 37, 53)
    ref, _ = upscale_planes(engine, x, tile=0, out="float32")
    out, _ = upscale_planes(engine, x, tile=tile, out="float32")
    assert np.abs(out - ref).max() <= 1e-5
    with torch.inference_mode():
        plain = tiny_model(x[None])[0].permute(1, 2, 0).numpy()
    assert np.abs(ref - plain).max() <= 1e-5


def test_tiled_equals_untiled_small_budget_batches(tiny_model):
    """A tiny memory budget forces small inner tiles and batches of windows; still exact."""
    from srgan.tiling import run_tiled

    engine = prepare(tiny_model, "cpu", "fp32")
    x = torch.rand(3, 29, 31)
    ref, _ = upscale_planes(engine, x, tile=0, out="float32")
    out = np.zeros_like(ref)

    def sink(y0, x0, t):
        out[y0:y0 + t.shape[1], x0:x0 + t.shape[2]] = t.permute(1, 2, 0).numpy()

    run_tiled(engine, x, sink, tile=6, budget=64 << 20)
    assert np.abs(out - ref).max() <= 1e-5


def test_generic_module_tiling_is_exact():
    """A module that is not our Generator (here a peer architecture) is tiled with the walked radius."""
    from srgan.peers import LeftthomasGenerator

    torch.manual_seed(1)
    net = LeftthomasGenerator(scale=2, channels=8).eval()
    engine = Engine(net, torch.device("cpu"), torch.float32)
    x = torch.rand(3, 23, 19)
    ref, _ = upscale_planes(engine, x, tile=0, out="float32")
    for tile in (4, 9):
        out, _ = upscale_planes(engine, x, tile=tile, out="float32")
        assert np.abs(out - ref).max() <= 1e-5


@pytest.mark.parametrize("out_channels, factor", [(3, 1), (3, 8), (1, 4)])
def test_a_module_that_does_not_give_its_scale_is_an_error(out_channels, factor):
    """A module claiming x4 that gave x1 returned a 32x32 array three quarters of which was np.empty's leftover
    memory; one giving x8 was cropped, one grey plane was copied to three."""
    class Claims4(nn.Module):
        scale = 4

        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, out_channels * factor ** 2, 3, padding=1)

        def forward(self, x):
            return nn.functional.pixel_shuffle(self.conv(x), factor)

    for tile in (0, 5):
        with pytest.raises(ValueError, match=rf"output is {out_channels}x{8 * factor}x{8 * factor} for input 3x8x8; "
                                             r"its scale, 4, means 3x32x32"):
            srgan.upscale(np.full((8, 8, 3), 128, np.uint8), model=Claims4(), tile=tile)


def test_the_engine_cached_for_a_module_follows_its_weights():
    """``upscale(x, module)`` caches an engine per module; after ``p.data.add_(...)`` (as EMA code does) or
    ``p.data = w`` it ran the old weights (0.24 off), as neither moves a version or an id; after a BatchNorm's
    ``eps`` changed (folded into the engine, no tensor) it was 0.008 off."""
    g = _tiny(seed=3)
    x = torch.rand(3, 9, 11)

    def off() -> float:
        with torch.no_grad():
            return (srgan.upscale(x, g, device="cpu", precision="fp32") - g(x[None])[0]).abs().max().item()

    assert off() < 1e-5
    g.tail.bias.data.add_(0.25)
    assert off() < 1e-5
    g.head[0].weight.data = g.head[0].weight.data * 0.5
    assert off() < 1e-5
    g.eval()
    assert off() < 1e-5
    for m in g.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.eps = 0.5
    assert off() < 1e-5
    engine = prepare(g, "cpu", "fp32")
    assert prepare(g, "cpu", "fp32") is engine  # unchanged weights: still the cached one
    bicubic = BicubicUpscaler(4)  # run in float64 whatever was asked, and stored so: it was never found
    assert prepare(bicubic, "cpu", "fp32") is prepare(bicubic, "cpu", "fp32")


def test_float64_tiles_are_sized_for_twice_the_bytes_of_fp32():
    """Tiles were sized for float64 (bicubic) as if it took half fp32's memory: 4x the area it had room for."""
    tiles = {dtype: choose_tiles(Engine(BicubicUpscaler(4), torch.device("cpu"), dtype), "auto", budget=2**30)[0]
             for dtype in (torch.float32, torch.float64, torch.bfloat16)}
    area = {dtype: (side + 8) ** 2 for dtype, side in tiles.items()}  # with the 4-px radius on each side
    assert area[torch.float64] == pytest.approx(area[torch.float32] / 2, rel=0.02)
    assert area[torch.bfloat16] == pytest.approx(area[torch.float32] * 2, rel=0.02)
    # and batches of tiles: two float64 tiles were packed where one fits, twice the budget
    from srgan import tiling

    sized = []
    real = tiling._batch_size

    def spy(window_px, bytes_per_px, budget, count):
        sized.append((window_px, budget, real(window_px, bytes_per_px, budget, count)))
        return sized[-1][2]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tiling, "_batch_size", spy)
        engine = Engine(BicubicUpscaler(4), torch.device("cpu"), torch.float64)
        assert not engine.split
        tiling.run_tiled(engine, torch.rand(3, 300, 300, dtype=torch.float64), lambda *a: None, budget=2**26)
    float64_px = tiling.GENERIC_BYTES_PER_PX * 2
    assert sized and all(window_px * float64_px * batch <= budget for window_px, budget, batch in sized)


def test_tiny_tiles_warn_in_the_api_as_on_the_command_line(tiny_model, tmp_path):
    """srgan upscale --tile 4 warns that it is many times the work of auto; upscale(..., tile=4) was silent."""
    engine = prepare(tiny_model, "cpu", "fp32")
    rgb = np.random.default_rng(0).integers(0, 256, (24, 20, 3), dtype=np.uint8)
    src = tmp_path / "photo.png"
    Image.fromarray(rgb).save(src)
    for call in (lambda: srgan.upscale(rgb, engine, tile=4),
                 lambda: srgan.upscale(Image.fromarray(rgb), engine, tile=4),
                 lambda: srgan.upscale(torch.from_numpy(rgb).permute(2, 0, 1) / 255.0, engine, tile=4),
                 lambda: upscale_file(engine, src, tmp_path / "out.png", tile=4, overwrite=True)):
        with pytest.warns(UserWarning, match=r"^tile=4 recomputes \d+ px of context around every tile: about \d+x the "
                                             r"work of tile='auto', which picks \d+ px tiles here") as said:
            call()
        assert said[0].filename == __file__  # the caller's line
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        srgan.upscale(rgb, engine, tile=24)  # a tile as large as the image costs nothing more: no warning
        srgan.upscale(rgb, engine, tile=0)
    with pytest.raises(ValueError, match="^tile must be a positive number of LR pixels, 0 or 'auto', got 'big'$"):
        srgan.upscale(rgb, engine, tile="big")


def test_tile_none_means_untiled_with_alpha_too(tiny_model):
    """It worked for RGB and raised int(None)'s TypeError for an image with alpha."""
    rgba = np.random.default_rng(0).integers(0, 256, (7, 9, 4), dtype=np.uint8)
    untiled = srgan.upscale(rgba, tiny_model, device="cpu", precision="fp32", tile=0)
    assert np.array_equal(srgan.upscale(rgba, tiny_model, device="cpu", precision="fp32", tile=None), untiled)


def test_an_engine_refuses_options_it_would_ignore(tiny_model):
    """An engine is made for one device and precision: device='bogus', precision='fp8' or back-projection passed
    with one were silently ignored (the image ran on the engine's CPU, in its precision)."""
    engine = prepare(tiny_model, "cpu", "fp32")
    x = np.zeros((6, 7, 3), np.uint8)
    assert srgan.upscale(x, model=engine, device="cpu", precision="fp32").shape == (24, 28, 3)  # what it is: fine
    assert srgan.upscale(x, model=engine, device=torch.device("cpu")).shape == (24, 28, 3)
    assert prepare(engine) is engine
    for options, asked in [({"precision": "bf16"}, "precision bf16"), ({"backend": "openvino"}, "backend openvino"),
                           ({"back_project": True}, "back-projection")]:
        with pytest.raises(ValueError, match=rf"^this engine was prepared for cpu, fp32; for {asked} prepare "
                                             r"another: srgan\.prepare\(model, \.\.\.\)$"):
            prepare(engine, **options)
    with pytest.raises(ValueError, match=r"device must be one of .* got 'bogus'"):
        srgan.upscale(x, model=engine, device="bogus")
    with pytest.raises(ValueError, match=r"precision must be one of .* got 'fp8'"):
        srgan.upscale(x, model=engine, precision="fp8")


@pytest.mark.parametrize("device", [torch.device("meta"), 0, None])
def test_a_device_object_is_checked_as_its_name_is(device):
    """torch.device('cuda') on a machine without CUDA was an AssertionError from deep in torch (the string 'cuda'
    a ValueError); 0, None and torch.device('meta') failed in torch's words."""
    x = np.zeros((6, 7, 3), np.uint8)
    with pytest.raises(ValueError, match=r"^device must be one of \('auto', 'cpu', 'cuda', 'mps'\) \(or cuda:N\)"):
        srgan.upscale(x, model="bicubic", device=device)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="^device 'cuda' requested but no CUDA GPU is available to torch$"):
            srgan.load_model("bicubic", device=torch.device("cuda"))


def test_a_model_of_the_wrong_kind_is_named(tiny_model, tmp_path):
    """model=None, or an Engine given to load_model, failed as "expected str, bytes or os.PathLike object"."""
    engine = prepare(tiny_model, "cpu", "fp32")
    cases = [(lambda: srgan.load_model(engine),
              "got a prepared Engine (give it to upscale(..., model=engine) as it is)"),
             (lambda: srgan.upscale(np.zeros((4, 4, 3), np.uint8), model=None), "got NoneType")]
    for call, got in cases:
        with pytest.raises(TypeError, match=r"^model must be a name \(bicubic, srresnet, srgan\), a weights file "
                                            rf"path or an nn.Module, {re.escape(got)}$"):
            call()


def test_the_cpu_by_its_index_is_the_cpu(tiny_model):
    """torch.device("cpu", 0) and "cpu:0" (what str() of it gives) were refused as "device must be one of ..."."""
    engine = prepare(tiny_model, "cpu", "fp32")
    x = torch.rand(3, 6, 7)
    for device in ("cpu:0", torch.device("cpu", 0)):
        assert prepare(tiny_model, device, "fp32").device == torch.device("cpu")
        assert torch.equal(srgan.upscale(x, model=engine, device=device), srgan.upscale(x, model=engine))
    with pytest.raises(ValueError, match=r"^device must be one of .* got 'cpu:1'"):  # there is one CPU device
        prepare(tiny_model, "cpu:1")


def test_tile_memory_respects_a_cgroup_limit(tmp_path):
    """--tile auto sized tiles by /proc/meminfo, the host's memory: in a container limited to 2 GiB it could pick
    tiles that got the process killed."""
    from srgan.tiling import cgroup_room

    def layout(lines: str, files: dict[str, str]) -> int | None:
        (tmp_path / "self").write_text(lines)
        for name, text in files.items():
            (tmp_path / "fs" / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / "fs" / name).write_text(text)
        return cgroup_room(str(tmp_path / "fs"), str(tmp_path / "self"))

    gib = 1 << 30
    assert layout("0::/job\n", {"job/memory.max": f"{2 * gib}\n", "job/memory.current": f"{gib // 2}\n"}) == 1.5 * gib
    assert layout("0::/other\n", {"memory.max": "max\n", "memory.current": "5\n"}) is None  # the root, unlimited
    v1 = {"memory/memory.limit_in_bytes": f"{3 * gib}\n", "memory/memory.usage_in_bytes": f"{gib}\n"}
    assert layout("4:memory:/\n0::/\n", v1) == 2 * gib  # a container's namespaced v1 hierarchy
    assert layout("4:memory:/\n", {"memory/memory.limit_in_bytes": "9223372036854771712\n"}) is None  # v1: no limit
    assert cgroup_room(str(tmp_path / "none"), str(tmp_path / "missing")) is None


def test_alpha_tiling_matches_whole_plane_bicubic():
    from srgan.imresize import imresize
    from srgan.upscaling import _upscale_alpha

    a = torch.rand(27, 35)
    whole = imresize(a[None, None], scale=4)[0, 0].clamp(0, 1).numpy()
    tiled = _upscale_alpha(a, 4, 8, "float32")
    assert np.abs(tiled - whole).max() <= 1e-5


# --------------------------------------------------------------------------- the Python API


def test_api_returns_same_kind(tiny_model):
    rng = np.random.default_rng(0)
    u8 = rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)
    out = srgan.upscale(u8, model=tiny_model, device="cpu")
    assert out.dtype == np.uint8 and out.shape == (36, 44, 3)
    f32 = u8.astype(np.float32) / 255
    outf = srgan.upscale(f32, model=tiny_model, device="cpu", tile=4)
    assert outf.dtype == np.float32 and outf.shape == (36, 44, 3)
    assert np.abs(np.rint(np.clip(outf, 0, 1) * 255) - out).max() <= 1  # same image, tiled or not
    gray = srgan.upscale(u8[..., 0], model=tiny_model, device="cpu")
    assert gray.shape == (36, 44) and gray.dtype == np.uint8
    rgba = srgan.upscale(np.dstack([u8, np.full((9, 11), 255, np.uint8)]), model=tiny_model, device="cpu")
    assert rgba.shape == (36, 44, 4) and (rgba[..., 3] == 255).all()
    u16 = srgan.upscale(u8.astype(np.uint16) * 257, model=tiny_model, device="cpu")
    assert u16.dtype == np.uint16 and u16.shape == (36, 44, 3)

    t = torch.from_numpy(f32).permute(2, 0, 1)
    chw = srgan.upscale(t, model=tiny_model, device="cpu")
    assert isinstance(chw, torch.Tensor) and chw.shape == (3, 36, 44) and chw.dtype == torch.float32
    assert np.abs(chw.permute(1, 2, 0).numpy() - outf).max() <= 1e-5
    nchw = srgan.upscale(torch.stack([t, t]), model=tiny_model, device="cpu", tile=5)
    assert nchw.shape == (2, 3, 36, 44)

    for mode, expect in [("RGB", "RGB"), ("RGBA", "RGBA"), ("L", "L"), ("LA", "LA"), ("P", "RGB"),
                         ("CMYK", "RGB"), ("I;16", "I;16")]:
        im = Image.fromarray(u8).convert(mode) if mode != "I;16" else Image.fromarray(u8[..., 0].astype(np.uint16) * 257)
        res = srgan.upscale(im, model=tiny_model, device="cpu")
        assert isinstance(res, Image.Image) and res.mode == expect and res.size == (44, 36), mode


def test_api_grayscale_is_rounded_once_as_the_cli_rounds_it(tiny_model, weights, tmp_path):
    """uint8 grayscale arrays and L/LA images were rounded twice (RGB to 8 bits, then the luma): about 12% of
    pixels one level off the CLI's file (benchmarks/rounding_paths.py), which takes the luma of the float output
    and rounds once."""
    gray = np.random.default_rng(0).integers(0, 256, (13, 17), dtype=np.uint8)
    alpha = np.linspace(1, 255, 13 * 17).reshape(13, 17).astype(np.uint8)  # none fully transparent (filled)
    Image.fromarray(gray).save(tmp_path / "g.png")
    assert main(["upscale", str(tmp_path / "g.png"), "-o", str(tmp_path / "cli.png"), "--model", str(weights),
                 "--device", "cpu", "--precision", "fp32", "-t", "0"]) == 0
    with Image.open(tmp_path / "cli.png") as im:
        cli = np.asarray(im)
    run = dict(model=tiny_model, device="cpu", precision="fp32", tile=0)
    once = np.rint(np.clip(srgan.upscale(gray.astype(np.float32) / 255, **run), 0, 1) * 255)
    assert (cli == once).all()
    assert (srgan.upscale(gray, **run) == cli).all()
    assert (np.asarray(srgan.upscale(Image.fromarray(gray), **run)) == cli).all()
    la = srgan.upscale(np.dstack([gray, alpha]), **run)
    pil_la = np.asarray(srgan.upscale(Image.fromarray(np.dstack([gray, alpha]), "LA"), **run))
    assert la.dtype == np.uint8 and (la[..., 0] == cli).all() and (pil_la == la).all()
    assert (la[..., 1] == srgan.upscale(np.dstack([gray, gray, gray, alpha]), **run)[..., 3]).all()


def test_16bit_grayscale_files_are_rounded_once_as_the_api_rounds_them(tiny_model, weights, tmp_path):
    """The CLI (and upscale_file) rounded a 16-bit grayscale output twice (RGB to uint16, then the luma): 16% of
    pixels one level of 65535 off the API's (benchmarks/rounding_paths.py), which takes the luma of the float
    output and rounds once."""
    yy, xx = np.mgrid[0:13, 0:17]
    gray = (np.sin(xx / 3) * np.cos(yy / 4) * 25000 + 32768).astype(np.uint16)
    Image.fromarray(gray).save(tmp_path / "g16.png")
    assert main(["upscale", str(tmp_path / "g16.png"), "-o", str(tmp_path / "cli.png"), "--model", str(weights),
                 "--device", "cpu", "--precision", "fp32", "-t", "0"]) == 0
    with Image.open(tmp_path / "cli.png") as im:
        assert im.mode == "I;16"
        cli = np.asarray(im)
    run = dict(model=tiny_model, device="cpu", precision="fp32", tile=0)
    once = np.rint(np.clip(srgan.upscale(gray.astype(np.float32) / 65535, **run), 0, 1) * 65535)
    assert (cli == once).all() and (srgan.upscale(gray, **run) == cli).all()

def test_api_reads_pil_images_as_files_are_read(tiny_model, tmp_path):
    """One mode dispatch (pixels.pixels_by_mode) for files and PIL inputs. The API's own copy ignored a PNG's
    tRNS colour: the file became RGBA, the same picture opened with Pillow came back opaque RGB."""
    rgb = np.full((12, 12, 3), 200, np.uint8)
    rgb[:6] = (10, 20, 30)  # the transparent colour
    Image.fromarray(rgb).save(tmp_path / "keyed.png", transparency=(10, 20, 30))
    Image.fromarray(rgb[..., 0]).save(tmp_path / "keyed_gray.png", transparency=10)
    for name, mode in (("keyed.png", "RGBA"), ("keyed_gray.png", "LA")):
        assert images.read_image(tmp_path / name).alpha is not None
        with Image.open(tmp_path / name) as im:
            res = srgan.upscale(im, model=tiny_model, device="cpu")
        alpha = np.asarray(res)[..., -1]
        assert res.mode == mode and alpha[:16].max() == 0 and alpha[32:].min() == 255, name


def test_api_turns_a_pil_image_by_its_exif_orientation_as_files_are(tiny_model, tmp_path):
    """srgan.upscale(Image.open(phone_photo)) came back sideways (480x320 for a 120x80 JPEG tagged 6, which the CLI
    writes upright at 320x480)."""
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (8, 12, 3), dtype=np.uint8)).save(
        tmp_path / "tagged.jpg", exif=exif)
    with Image.open(tmp_path / "tagged.jpg") as im:
        res = srgan.upscale(im, model=tiny_model, device="cpu")
    assert res.size == (32, 48)  # upright: 8 wide, 12 high, x4
    assert srgan.upscale(res, model=tiny_model, device="cpu").size == (128, 192)  # no tag is left to turn it again
    assert images.read_image(tmp_path / "tagged.jpg").rgb.shape[:2] == (12, 8)


def test_api_empty_inputs(tiny_model):
    # an image with no pixels is named as such (it used to fail in the first convolution's padding check)
    for empty in (np.zeros((0, 8, 3), np.uint8), torch.rand(3, 5, 0)):
        with pytest.raises(ValueError, match=r"^empty image \((0x8|5x0) pixels\)$"):
            srgan.upscale(empty, model=tiny_model, device="cpu")
    none = srgan.upscale(torch.rand(0, 3, 5, 6), model=tiny_model, device="cpu")  # an empty batch stays one
    assert none.shape == (0, 3, 20, 24)


@pytest.mark.parametrize("size", [(1, 1), (2, 2), (3, 3), (1, 40), (2, 9)])
def test_tiny_images_keep_their_colour(size):
    """A side under MIN_SIDE is edge-padded for the network. Unpadded, the shipped SRResNet turned a 1x1 mid-grey
    pixel into 85 (zero padding outweighed the picture) and a 2x2 into 106."""
    model = srgan.load_model("srresnet")
    for colour in ((128, 128, 128), (200, 60, 30)):
        flat = np.zeros((*size, 3), np.uint8) + np.array(colour, np.uint8)
        out = srgan.upscale(flat, model=model).astype(int)
        assert out.shape == (size[0] * 4, size[1] * 4, 3)
        assert abs((out - np.array(colour)).mean()) < 1.5
        assert np.abs(out - np.array(colour)).max() <= 16


def test_tiny_images_stream_their_rows_and_bicubic_is_not_padded(tiny_model):
    rgb = torch.rand(3, 2, 7)
    engine = prepare(tiny_model, "cpu", "fp32")
    rows, result = [], np.zeros((8, 28, 3), np.uint8)
    upscale_planes(engine, rgb, tile=1, result=result, rows_done=rows.append)
    assert rows == sorted(rows) and rows[-1] == 8
    whole, _ = upscale_planes(engine, rgb, tile=0)
    np.testing.assert_array_equal(result, whole)
    # MATLAB bicubic pads its borders itself: the bicubic engine's output is imresize's, exactly
    from srgan.imresize import imresize
    bicubic, _ = upscale_planes(prepare("bicubic", "cpu", "fp32"), rgb, out="float32")
    expected = imresize(rgb[None].double(), scale=4)[0].permute(1, 2, 0).clamp(0, 1).float().numpy()
    np.testing.assert_allclose(bicubic, expected, atol=1e-5)


def test_bicubic_runs_in_float64_whatever_the_precision():
    """`srgan upscale -n bicubic` (and serve's bicubic) ran in bf16 where 'auto' picks it: 5-14% of the samples'
    pixels one level off MATLAB's bicubic (benchmarks/rounding_paths.py), under a "bf16" label. It is float64
    now, as in eval, which refuses bf16 too."""
    from srgan.imresize import imresize

    x = np.random.default_rng(0).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    matlab = imresize(torch.from_numpy(x / 255.0).permute(2, 0, 1), scale=4).permute(1, 2, 0).clamp(0, 1).numpy()
    for precision in ("auto", "fp32"):
        engine = prepare("bicubic", "cpu", precision)
        assert engine.precision == "fp64" and engine.dtype == torch.float64
        out = srgan.upscale(x, model=engine)
        assert np.abs(out - np.rint(matlab * 255)).max() <= 1 and (out == np.rint(matlab * 255)).mean() > 0.9999
    with pytest.raises(ValueError, match="^bicubic always runs in float64, as MATLAB's imresize does; "
                                         "precision bf16 does not apply$"):
        prepare("bicubic", "cpu", "bf16")


def test_api_tensors_without_pixels_in_memory_are_refused(tiny_model):
    """A meta-device tensor failed as "device must be one of ... got 'meta'" (a device the caller never passed),
    a sparse one as "Could not run 'aten::aminmax' with arguments from the 'SparseCPU' backend"."""
    for image, kind in ((torch.empty(3, 8, 8, device="meta"), "meta-device"), (torch.rand(3, 8, 8).to_sparse(),
                                                                               "sparse_coo")):
        with pytest.raises(ValueError, match=rf"^expected a tensor with its pixels in memory, got a {kind} tensor"):
            srgan.upscale(image, model=tiny_model)


def test_api_float_values_outside_0_1_are_refused(tiny_model):
    # a 0-255 float image used to come back white (clipped) without a word; NaN used to come back as NaN
    photo = np.random.default_rng(0).random((5, 6, 3), dtype=np.float32)
    cases = [(photo * 255, r"^float image values must lie in \[0, 1\], got \[0\.\d+, 2\d\d\.\d+\] \(a 0-255 image"),
             (torch.from_numpy(photo).permute(2, 0, 1) - 0.1,
              r"^float image values must lie in \[0, 1\], got \[-0\.09\d+, 0\.89\d+\]$"),
             (torch.full((1, 3, 4, 5), float("nan")), r"^the image has NaN or infinite values$"),
             (np.where(photo > 0.5, np.inf, photo), r"^the image has NaN or infinite values$")]
    for image, message in cases:
        with pytest.raises(ValueError, match=message):
            srgan.upscale(image, model=tiny_model, device="cpu")
    # rounding noise within half an 8-bit step is accepted: the result is within an 8-bit step of the clipped one
    noisy = photo.copy()
    noisy[0, 0], noisy[1, 1] = 1 + 0.4 / 255, -0.4 / 255
    difference = srgan.upscale(noisy, model=tiny_model, device="cpu") - srgan.upscale(np.clip(noisy, 0, 1),
                                                                                     model=tiny_model, device="cpu")
    assert 0 < np.abs(difference).max() < 1 / 255


def test_the_advice_for_a_tensor_on_another_scale_is_what_upscale_takes(tiny_model):
    """A 0-255 float tensor was told "divide it by 255, or pass uint8", and a uint8 tensor was then refused."""
    photo = torch.rand(3, 5, 6, generator=torch.Generator().manual_seed(0))
    to_255 = (r"^float image values must lie in \[0, 1\], got \[\d+\.\d+, 2\d\d\.\d+\] "
              r"\(a 0-255 image\? divide it by 255\)$")
    cases = [(photo * 255, ValueError, to_255),
             ((photo * 255).to(torch.uint8), TypeError,
              r"^expected a float tensor in \[0, 1\], got torch\.uint8 \(divide it by 255\)$"),
             (photo * 2 - 1, ValueError, r"\(a \[-1, 1\] image\? map it to \[0, 1\] with \(x \+ 1\) / 2\)$"),
             (photo.permute(1, 2, 0).numpy() * 65535, ValueError,
              r"\(16-bit values\? divide them by 65535; an HDR image\? tone-map it")]
    for image, error, message in cases:
        with pytest.raises(error, match=message):
            srgan.upscale(image, model=tiny_model, device="cpu")
    with pytest.raises(ValueError, match=r"\(a 0-255 image\? divide it by 255, or pass uint8\)$"):
        srgan.upscale(photo.permute(1, 2, 0).numpy() * 255, model=tiny_model, device="cpu")  # arrays take uint8
    srgan.upscale((photo * 255).to(torch.uint8) / 255, model=tiny_model, device="cpu")  # the advice works


def test_a_callers_autocast_does_not_change_the_engines_precision(tiny_model):
    """An fp32 engine (or eval's fp32) inside a caller's bf16 autocast, as in a validation step of a mixed-precision
    training loop, ran its convolutions in bf16: many output values off the fp32 ones."""
    from srgan.evaluate import super_resolve

    x = torch.rand(3, 24, 20, generator=torch.Generator().manual_seed(0))
    lr = (x.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    engine = prepare(tiny_model, "cpu", "fp32")
    plain, scored = srgan.upscale(x, engine), super_resolve(tiny_model, lr, "cpu")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.equal(srgan.upscale(x, engine), plain)
        assert np.array_equal(super_resolve(tiny_model, lr, "cpu"), scored)


def test_upscale_file_warns_when_the_output_format_drops_alpha(tiny_model, tmp_path):
    """srgan upscale warned that a .jpg or .bmp output drops the input's alpha; upscale_file said nothing."""
    rgba = np.random.default_rng(2).integers(0, 256, (6, 7, 4), dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    with pytest.warns(UserWarning, match=r"out\.bmp: BMP has no transparency; the input's alpha is dropped \(write "
                                         r"\.png, \.webp or \.tif to keep it\)$"):
        srgan.upscale_file(tiny_model, tmp_path / "a.png", tmp_path / "out.bmp")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        srgan.upscale_file(tiny_model, tmp_path / "a.png", tmp_path / "out.png")  # keeps it: no warning


def test_upscale_file_takes_a_model_as_prepare_does(tiny_model, tmp_path):
    """srgan.upscale_file was not exported, and a model name or module failed with "'str' object has no
    attribute 'scale'": it took only engines."""
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (9, 7, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    by_module = srgan.upscale_file(tiny_model, tmp_path / "a.png", tmp_path / "m.png")
    by_engine = srgan.upscale_file(srgan.prepare(tiny_model), tmp_path / "a.png", tmp_path / "e.png")
    assert by_module == tmp_path / "m.png" and Image.open(by_module).size == (28, 36)
    assert by_module.read_bytes() == by_engine.read_bytes()


def test_upscale_file_refuses_an_impossible_output_before_the_model(tiny_model, tmp_path, monkeypatch):
    # the API used to run the model, then fail with OverflowError (outscale=1e9) or "broken data stream" (JPEG)
    Image.fromarray(np.zeros((5, 6, 3), np.uint8)).save(tmp_path / "in.png")
    engine = prepare(tiny_model, "cpu", "fp32")
    monkeypatch.setattr("srgan.upscaling.upscale_planes", lambda *a, **k: pytest.fail("model ran"))
    with pytest.raises(images.ImageError, match=r"out\.png: a 6000000000x5000000000 output is more than "
                                                r"3,200,000,000 pixels"):
        upscale_file(engine, tmp_path / "in.png", tmp_path / "out.png", outscale=1e9)
    Image.fromarray(np.zeros((2, 20, 3), np.uint8)).save(tmp_path / "wide.png")
    with pytest.raises(images.ImageError, match=r"out\.jpg: a 70000-px side is more than JPEG can hold"):
        upscale_file(engine, tmp_path / "wide.png", tmp_path / "out.jpg", outscale=3500)
    with pytest.raises(ValueError, match=r"^outscale must be a positive number, got nan$"):
        upscale_file(engine, tmp_path / "in.png", tmp_path / "out.png", outscale=float("nan"))
    before = (tmp_path / "in.png").read_bytes()
    with pytest.raises(images.ImageError, match=r"in\.png: is the input file itself; refused"):
        upscale_file(engine, tmp_path / "in.png", tmp_path / "in.png", overwrite=True)
    assert (tmp_path / "in.png").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png", "wide.png"]


def test_upscale_file_checks_its_output_before_reading_or_running(tiny_model, tmp_path, monkeypatch):
    """The output was checked only when written, after the image was read and the model had run (minutes on a
    large image); the errors are write_image's, word for word."""
    Image.fromarray(np.zeros((5, 6, 3), np.uint8)).save(tmp_path / "in.png")
    (tmp_path / "exists.png").write_bytes(b"keep")
    (tmp_path / "folder.png").mkdir()
    engine = prepare(tiny_model, "cpu", "fp32")
    monkeypatch.setattr(images, "read_image", lambda *a, **k: pytest.fail("input decoded"))
    monkeypatch.setattr("srgan.upscaling.upscale_planes", lambda *a, **k: pytest.fail("model ran"))
    cases = [
        ("exists.png", {}, images.ImageExistsError, "already exists (pass overwrite=True / --overwrite to replace it)"),
        ("out.jpgx", {}, images.ImageError, "unknown extension '.jpgx': cannot choose an output format "
                                            "(use one of .png, .jpg, .jpeg, .jfif, .bmp, .webp, .tif, .tiff)"),
        ("folder.png", {"overwrite": True}, images.ImageError, "is a folder"),
    ]
    for name, options, error, problem in cases:
        with pytest.raises(error) as caught:
            upscale_file(engine, tmp_path / "in.png", tmp_path / name, **options)
        assert str(caught.value) == f"{tmp_path / name}: {problem}"
    for level in (12, 6.5, "6", None, True):  # 6.5 failed after the model ran, "6" as a bare TypeError
        with pytest.raises(ValueError, match=rf"^png_level must be a whole number from 0 \(stored\) to 9 "
                                             rf"\(smallest\), got {re.escape(repr(level))}$"):
            upscale_file(engine, tmp_path / "in.png", tmp_path / "new" / "out.png", png_level=level)
    with pytest.raises(images.ImageError, match=r"file name too long \(256 bytes; at most 255\)$"):
        upscale_file(engine, tmp_path / "in.png", tmp_path / "new" / ("a" * 252 + ".png"))
    assert (tmp_path / "exists.png").read_bytes() == b"keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exists.png", "folder.png", "in.png"]


def test_the_longest_file_name_can_be_written(tiny_model, tmp_path):
    """A name of 242-255 bytes failed: the temporary file beside it was 14 bytes longer than the file system takes."""
    engine = prepare(tiny_model, device="cpu", precision="fp32")
    Image.fromarray(np.zeros((12, 16, 3), np.uint8)).save(tmp_path / "in.png")
    dest = tmp_path / "out" / ("é" * 100 + "a" * 51 + ".png")  # 255 bytes; the temporary name cuts whole letters
    assert upscale_file(engine, tmp_path / "in.png", dest) == dest
    assert Image.open(dest).size == (64, 48) and os.listdir(dest.parent) == [dest.name]


def test_upscale_file_with_a_missing_input_says_so_whatever_the_output(tiny_model, tmp_path):
    """With an existing output it was a bare FileNotFoundError from os.path.samefile, not the ImageError promised."""
    (tmp_path / "exists.png").write_bytes(b"keep")
    engine = prepare(tiny_model, "cpu", "fp32")
    for dest in ("exists.png", "new.png"):
        with pytest.raises(images.ImageNotFoundError) as caught:
            upscale_file(engine, tmp_path / "nope.png", tmp_path / dest)
        assert str(caught.value) == f"{tmp_path / 'nope.png'}: no such file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exists.png"]


def test_load_model_from_path_is_eval(weights):
    model = srgan.load_model(weights, device="cpu")
    assert not model.training and model.scale == 4
    with pytest.raises(ValueError):
        srgan.load_model(weights.parent / "missing.safetensors")


# --------------------------------------------------------------------------- the CLI


def _make_inputs(folder):
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (7, 9, 3), dtype=np.uint8)
    base = Image.fromarray(rgb)
    folder.mkdir(parents=True, exist_ok=True)
    base.save(folder / "rgb.png")
    base.convert("L").save(folder / "gray.png")
    rgba = base.convert("RGBA")
    rgba.putalpha(Image.fromarray(rng.integers(0, 256, (7, 9), dtype=np.uint8)))
    rgba.save(folder / "rgba.png")
    base.convert("LA").save(folder / "la.png")
    base.convert("P").save(folder / "pal.png")
    base.convert("CMYK").save(folder / "cmyk.jpg", quality=95)
    Image.fromarray(rgb[..., 0].astype(np.uint16) * 257).save(folder / "gray16.png")
    (folder / "sub").mkdir(exist_ok=True)
    base.save(folder / "sub" / "nested.png")
    return folder


def test_cli_every_mode(tmp_path, weights):
    src = _make_inputs(tmp_path / "in")
    out = tmp_path / "out"
    code = main(["upscale", str(src), "-o", str(out), "--model", str(weights), "--device", "cpu", "--tile", "5"])
    assert code == 0
    expect = {"rgb.png": "RGB", "gray.png": "L", "rgba.png": "RGBA", "la.png": "LA", "pal.png": "RGB",
              "cmyk.png": "RGB", "sub/nested.png": "RGB"}
    for name, mode in expect.items():
        with Image.open(out / name) as im:
            assert im.size == (36, 28) and im.mode == mode, name
    img16 = images.read_image(out / "gray16.png")
    assert img16.bit_depth == 16 and img16.grayscale and img16.rgb.shape == (28, 36, 3)
    # alpha is MATLAB bicubic of the source alpha
    from srgan.imresize import imresize

    alpha_in = images.read_image(src / "rgba.png").alpha
    expected = images.to_uint8(imresize(torch.from_numpy(alpha_in)[None, None], scale=4)[0, 0].clamp(0, 1).numpy())
    with Image.open(out / "rgba.png") as im:
        assert np.abs(np.asarray(im)[..., 3].astype(int) - expected).max() <= 1


def test_cli_single_file_format_from_extension(tmp_path, weights):
    src = _make_inputs(tmp_path / "in") / "rgb.png"
    dest = tmp_path / "x" / "result.jpg"
    assert main(["upscale", str(src), "-o", str(dest), "--model", str(weights), "--device", "cpu"]) == 0
    with Image.open(dest) as im:
        assert im.format == "JPEG" and im.size == (36, 28)


def test_cli_bad_inputs_reported_others_written(tmp_path, weights, capsys):
    src = _make_inputs(tmp_path / "in")
    (src / "empty.png").write_bytes(b"")
    (src / "notimage.jpg").write_text("hello, not a jpeg")
    good = (src / "rgb.png").read_bytes()
    (src / "truncated.png").write_bytes(good[: len(good) // 2])
    out = tmp_path / "out"
    code = main(["upscale", str(src), "-o", str(out), "--model", str(weights), "--device", "cpu", "--quiet"])
    err = capsys.readouterr().err
    assert code != 0
    for bad in ("empty.png", "notimage.jpg", "truncated.png"):
        lines = [line for line in err.splitlines() if bad in line]
        assert len(lines) == 1, (bad, err)
        assert not (out / bad).with_suffix(".png").exists()
    assert (out / "rgb.png").exists() and (out / "sub" / "nested.png").exists()


def test_cli_never_overwrites_without_flag(tmp_path, weights, capsys):
    src = _make_inputs(tmp_path / "in") / "rgb.png"
    out = tmp_path / "out"
    out.mkdir()
    (out / "rgb.png").write_bytes(b"precious")
    args = ["upscale", str(src), "-o", str(out), "--model", str(weights), "--device", "cpu"]
    assert main(args) != 0
    assert (out / "rgb.png").read_bytes() == b"precious"
    assert "already exists" in capsys.readouterr().err
    assert main(args + ["--overwrite"]) == 0
    with Image.open(out / "rgb.png") as im:
        assert im.size == (36, 28)


def test_cli_unwritable_output_fails_before_work(tmp_path, weights, monkeypatch, capsys):
    src = _make_inputs(tmp_path / "in")
    blocker = tmp_path / "a_file"
    blocker.write_text("x")

    def no_work(*a, **k):
        raise AssertionError("model loaded before the output was checked")

    monkeypatch.setattr("srgan.engines.prepare", no_work)
    code = main(["upscale", str(src), "-o", str(blocker / "out"), "--model", str(weights), "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 1 and "a_file" in err and len(err.strip().splitlines()) == 1


def test_cli_decompression_bomb_refused(tmp_path, weights, capsys):
    src = _make_inputs(tmp_path / "in") / "rgb.png"
    code = main(["upscale", str(src), "-o", str(tmp_path / "o"), "--model", str(weights), "--device", "cpu",
                 "--max-pixels", "10"])
    assert code != 0 and "rgb.png" in capsys.readouterr().err


def test_large_uint8_output_matches_float_output(tmp_path, weights):
    engine = prepare(weights, "cpu", "fp32")
    src = _make_inputs(tmp_path / "in")
    for name in ("rgb.png", "rgba.png", "gray.png"):
        a = upscale_file(engine, src / name, tmp_path / "a" / name, tile=4)
        b = upscale_file(engine, src / name, tmp_path / "b" / name, tile=4, large_output_pixels=0)
        with Image.open(a) as ia, Image.open(b) as ib:
            assert ia.mode == ib.mode
            diff = np.abs(np.asarray(ia).astype(int) - np.asarray(ib).astype(int)).max()
            # gray: uint8 input takes luma of the rounded RGB, float input luma of the float RGB
            assert diff <= (1 if name == "gray.png" else 0), name


def test_outscale_resize_is_pillows_lanczos_for_every_plane_type():
    """resize_planes runs Pillow's Lanczos one plane at a time, so that 16-bit and float planes work: on 8-bit RGB
    it must equal Pillow's own 3-channel Lanczos, and the uint16 and float32 paths must agree with it."""
    from srgan.upscaling import resize_planes

    yy, xx = np.mgrid[0:37, 0:45]  # smooth, inside 38..218: no pass overshoots the 8-bit range
    rgb = np.stack([128 + 90 * np.sin(xx / 5 + c) * np.cos(yy / 7 - c) for c in range(3)], -1).round().astype(np.uint8)
    for width, height in ((23, 19), (70, 61)):  # down and up
        reference = np.asarray(Image.fromarray(rgb).resize((width, height), Image.LANCZOS))
        np.testing.assert_array_equal(resize_planes(rgb, width, height), reference)
        as16 = resize_planes(rgb.astype(np.uint16) * 257, width, height)
        asf = resize_planes(rgb.astype(np.float32) / 255, width, height)
        assert as16.dtype == np.uint16 and asf.dtype == np.float32
        # 8-bit rounds between the two passes, the others do not: measured <= 1.07 levels apart (nearest
        # neighbour instead of Lanczos: 8-9)
        assert np.abs(as16 / 257 - reference).max() <= 1.5
        assert np.abs(asf * 255 - reference).max() <= 1.5


@pytest.mark.parametrize("kind", ["Generator", "other module"])
def test_api_leaves_the_callers_module_as_it_was(kind):
    """A preview taken while training used to put the model in eval mode (BatchNorm frozen for the rest of the
    run) and, for a module that is not our Generator, convert it to bf16 and channels_last in place."""
    from srgan.peers import LeftthomasGenerator

    torch.manual_seed(0)
    g = Generator(num_blocks=1, channels=8) if kind == "Generator" else LeftthomasGenerator(scale=4, channels=8)
    g.train()
    before = {k: v.clone() for k, v in g.state_dict().items()}
    out = srgan.upscale(np.zeros((8, 8, 3), np.uint8), g, device="cpu", precision="bf16")
    assert out.shape == (32, 32, 3)
    assert all(m.training for m in g.modules())
    after = g.state_dict()
    assert all(after[k].dtype == v.dtype and torch.equal(after[k], v) for k, v in before.items())
    assert all(p.is_contiguous() for p in g.parameters())  # not channels_last


def test_api_keeps_an_icc_profile_only_where_it_describes_the_output():
    """A CMYK input's Lab or CMYK profile used to be copied onto the RGB result, which colour management then
    cannot use; an RGB profile on RGB stays."""
    ImageCms = pytest.importorskip("PIL.ImageCms")
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    lab = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    cmyk = Image.new("CMYK", (6, 5), (0, 255, 255, 0))
    cmyk.info["icc_profile"] = lab
    rgb = Image.new("RGB", (6, 5), (200, 20, 20))
    rgb.info["icc_profile"] = srgb
    gray = Image.new("L", (6, 5), 90)
    gray.info["icc_profile"] = srgb
    assert "icc_profile" not in srgan.upscale(cmyk, "bicubic").info
    assert srgan.upscale(rgb, "bicubic").info["icc_profile"] == srgb
    assert "icc_profile" not in srgan.upscale(gray, "bicubic").info


@pytest.mark.parametrize("tile", ["big", True, 7.9, -3])
def test_api_tile_must_be_a_tile_size(tile):
    """'big' gave "invalid literal for int()"; True and 7.9 were taken as 1 and 7 without a word."""
    with pytest.raises(ValueError, match=f"tile must be a positive number of LR pixels, 0 or 'auto', got {tile!r}"):
        srgan.upscale(np.zeros((8, 8, 3), np.uint8), "bicubic", tile=tile)
    assert srgan.upscale(np.zeros((8, 8, 3), np.uint8), "bicubic", tile=np.int64(4)).shape == (32, 32, 3)


def test_api_takes_big_endian_arrays():
    """A '>u2' array (FITS and other big-endian sources) was refused as 'got >u2'."""
    native = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000)
    out = srgan.upscale(native.astype(">u2"), "bicubic")
    assert out.dtype == np.uint16 and np.array_equal(out, srgan.upscale(native, "bicubic"))


def test_transparent_pixels_do_not_darken_the_visible_edge():
    """The colour of fully transparent pixels (black here, as most programs save it) was upscaled with the rest
    and bled into the anti-aliased edge: a white disc came out with a grey fringe (edge pixels averaged
    (221, 220, 210); composited on white, 929 pixels under 230, the darkest 93). It is now filled from the visible
    pixels first (upscaling.fill_transparent)."""
    n = 64
    yy, xx = np.mgrid[:n, :n]
    coverage = np.clip(20.5 - np.hypot(yy - 31.5, xx - 31.5), 0, 1)
    disc = np.zeros((n, n, 4), np.uint8)
    disc[..., :3] = np.where(coverage[..., None] > 0, 255, 0)
    disc[..., 3] = np.round(coverage * 255)
    out = srgan.upscale(disc, srgan.prepare("srresnet", "cpu", "fp32")).astype(float)
    alpha = out[..., 3:] / 255
    on_white = out[..., :3] * alpha + 255 * (1 - alpha)
    assert on_white.min() >= 250  # measured 254
    edge = (out[..., 3] > 20) & (out[..., 3] < 235)
    assert out[edge][:, :3].mean() >= 250


def test_fill_transparent_keeps_what_is_visible():
    from srgan.upscaling import fill_transparent

    rgb = torch.rand(3, 7, 9)
    alpha = torch.zeros(7, 9)
    alpha[2:4, 5:8] = 0.5
    filled = fill_transparent(rgb, alpha)
    assert torch.equal(filled[:, 2:4, 5:8], rgb[:, 2:4, 5:8])  # visible (even half) pixels are untouched
    lo, hi = rgb[:, 2:4, 5:8].amin(dim=(1, 2)), rgb[:, 2:4, 5:8].amax(dim=(1, 2))
    assert ((filled >= lo[:, None, None] - 1e-6) & (filled <= hi[:, None, None] + 1e-6)).all()  # from their colours
    assert fill_transparent(rgb, torch.ones(7, 9)) is rgb and fill_transparent(rgb, torch.zeros(7, 9)) is rgb
    # Each hidden pixel takes the finest cell around it: F.interpolate's nearest put pixel 9997 of a 9999-px row
    # in the wrong cell (blue from 9998, not red from 9996)
    row = torch.zeros(3, 1, 9999)
    row[0, 0, 9996], row[2, 0, 9998] = 1.0, 1.0
    seen = torch.zeros(1, 9999)
    seen[0, [9996, 9998]] = 1.0
    assert fill_transparent(row, seen)[:, 0, 9997].tolist() == [1.0, 0.0, 0.0]
