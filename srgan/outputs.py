"""Output planning for ``srgan upscale``: which file each input goes to, and what is refused before any work.

Naming: with one input file and ``-o`` naming an image file, ``-o`` is that file and its extension picks the
format (one srgan cannot write, such as ``out.gif``, is an error, not a folder called ``out.gif``). Otherwise
``-o`` is a folder; each output keeps its input's name (the relative path below a folder input, so folder
structure is mirrored), plus ``_<suffix>`` when ``--suffix`` is given (Real-ESRGAN's naming), with the
extension from ``--ext`` (default ``.png``; ``keep`` keeps the source's).

Inputs are never destroyed: an output that is an input file is refused, an output folder that is an input
folder needs a ``--suffix``, and earlier outputs found in the input folder are not taken as new inputs.

What every writer of files shares (checks before long work, temporary names, atomic replace) is :mod:`srgan.files`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .files import file_identity, file_output_problem, name_problem, without_made_up_folders

#: Largest side each format can hold: libwebp and libjpeg refuse bigger images when encoding.
MAX_SIDE = {".webp": ("WebP", 16383), **{ext: ("JPEG", 65500) for ext in (".jpg", ".jpeg", ".jfif")}}


@dataclass
class Plan:
    pairs: list[tuple[Path, Path]] = field(default_factory=list)  # (input file, output file)
    errors: list[str] = field(default_factory=list)  # one line per input or output refused
    folder: Path = Path(".")  # the output folder, checked for writability before any work
    skipped: int = 0  # files in the input folder taken for earlier outputs of this run's naming
    scanned: set[str] = field(default_factory=set)  # real paths of inputs found in a folder, not named one by one
    lookalikes: list[str] = field(default_factory=list)  # inputs left out as earlier outputs of another input
    others: list[Path] = field(default_factory=list)  # files in input folders in formats not scanned for (a GIF)


def _names_an_image_format(path: Path) -> bool:
    """Pillow's extensions, and those of formats it may not know (no plugin installed): ``-o out.heic`` is a file
    srgan cannot write, not a folder called out.heic (it was made one, exit 0)."""
    from PIL import Image

    from .imagefind import OTHER_IMAGE_EXTENSIONS

    return path.suffix.lower() in Image.registered_extensions() or path.suffix.lower() in OTHER_IMAGE_EXTENSIONS


def plan_outputs(inputs: list[str], output: str, ext: str | None = None, suffix: str = "") -> Plan:
    """Map inputs to destinations; refusals that concern the whole run raise ``ValueError``. ``ext`` (default
    .png) and ``suffix`` name the files of an output folder."""
    from .imagefind import find_images
    from .images import IMAGE_EXTENSIONS, ImageError

    plan = Plan()
    out = Path(output)
    tag = f"_{suffix}" if suffix else ""
    found: list[tuple[Path, Path | None]] = []  # (file, root folder it was found under)
    named: set[str] = set()  # real paths of the files named one by one
    for item in inputs:
        root = Path(item) if Path(item).is_dir() else None
        try:
            files = find_images([item], others=plan.others, unreadable=plan.errors)
        except ImageError as exc:
            plan.errors.append(str(exc))
            continue
        if root is not None and not tag and len(inputs) > 1 and out.is_dir() and os.path.samefile(root, out):
            # `srgan upscale photos/* -o photos/up`: the glob names the output folder, whose files are outputs
            # (without a --suffix they would be written over themselves); with a suffix, the check below applies
            plan.skipped += len(files)
            continue
        if root is not None:  # earlier outputs of this naming are not new inputs
            kept = [f for f in files if not _earlier_output(f, root, out, tag)]
            plan.skipped += len(files) - len(kept)
            files = kept
            plan.scanned.update(os.path.realpath(f) for f in files)
        else:
            named.update(os.path.realpath(f) for f in files)
        found.extend((f, root) for f in files)
    plan.scanned -= named  # a file also named on the command line is upscaled as asked

    # A file named twice (photo.png photo.png, or a folder and a file in it) is one input; a link to it under
    # another name (b.png -> a.png) is an input of its own, with its own output.
    seen: set[tuple[str, str]] = set()
    found = [(f, root) for f, root in found
             if not ((key := (os.path.realpath(f), f.name)) in seen or seen.add(key))]
    file_target = out.suffix and _names_an_image_format(out) and not names_a_folder(output)  # shots.png/ is a folder
    if file_target and (len(found) > 1 or any(Path(i).is_dir() for i in inputs)):
        raise ValueError(f"{output}: a folder input or several inputs need an output folder, not a file name")
    if file_target:
        from .imagewrite import format_of

        # `-o up.png --ext png` (or `-o up.jpg --ext jpeg`) agrees with the name
        same_format = ext is not None and format_of("." + ext.lower().lstrip(".")) == format_of(out.suffix.lower())
        given = [option for option, value in (("--ext", ext is not None and not same_format), ("--suffix", suffix))
                 if value]
        if given:  # they were ignored: `-o up.png --ext jpg` wrote a PNG
            one = len(given) == 1
            raise ValueError(f"{output} names the output file itself; {' and '.join(given)} "
                             f"{'names' if one else 'name'} the files of an output folder, so drop "
                             f"{'it' if one else 'them'} or name a folder")
        if out.suffix.lower() not in IMAGE_EXTENSIONS:
            raise ValueError(f"{output}: srgan cannot write {out.suffix} files; name a "
                             f"{', '.join(IMAGE_EXTENSIONS)} file or an output folder")
        if found:
            plan.pairs.append((found[0][0], out))
        plan.folder = out.parent
        return _refuse_inputs_as_outputs(plan, found)

    given_ext = ext
    ext = ".png" if ext is None else ext if ext.startswith(".") or ext == "keep" else "." + ext
    if ext != "keep" and ext.lower() not in IMAGE_EXTENSIONS:
        raise ValueError(f"--ext must be one of {', '.join(IMAGE_EXTENSIONS)} or 'keep', got {given_ext!r}")
    plan.folder = out
    if not suffix and out.is_dir():
        beside = next((src for src, _root in found if os.path.samefile(src.parent, out)), None)
        if beside is not None:
            raise ValueError(f"{output}: is the folder of the input {beside}; pass --suffix (e.g. --suffix x4) "
                             "so the outputs get new names beside the originals")
    taken: dict[str, Path] = {}
    for src, root in found:
        rel = src.relative_to(root) if root is not None else Path(src.name)
        dest = out / rel.with_name(rel.stem + tag + (rel.suffix if ext == "keep" else ext))
        if ext == "keep" and dest.suffix.lower() not in IMAGE_EXTENSIONS:
            plan.errors.append(f"{src}: --ext keep cannot write a {dest.suffix or 'extension-less'} file; "
                               f"skipped (use --ext with one of {', '.join(IMAGE_EXTENSIONS)})")
            continue
        outside = _outside(dest.parent, out)
        if outside:
            plan.errors.append(f"{dest}: {outside}; not written through")
            continue
        key = os.path.normcase(os.path.abspath(dest))
        if key in taken:
            # --ext keep tells photo.jpg from photo.png, not IMG_0001.jpg on two memory cards
            same_ext = src.suffix.lower() == taken[key].suffix.lower()
            advice = "separate runs" if same_ext else "--ext keep or separate runs"
            plan.errors.append(f"{src}: output {dest} would also be written for {taken[key]}; skipped (use {advice})")
            continue
        taken[key] = src
        plan.pairs.append((src, dest))
    return _refuse_inputs_as_outputs(plan, found)


def _refuse_inputs_as_outputs(plan: Plan, found: list[tuple[Path, Path | None]]) -> Plan:
    """No output may be an input file, its own or another's (``x.png`` with ``--suffix up`` next to an input
    called ``x_up.png``), even with --overwrite: the input would be lost. Compared by file identity, so a
    symbolic link or another spelling of the same file is caught too."""
    inputs = {file_identity(src): src for src, _root in found}
    kept = []
    for src, dest in plan.pairs:
        problem = name_problem(dest)  # (is_file() raises on such a name)
        if problem:
            plan.errors.append(f"{dest}: {problem}; skipped")
            continue
        other = inputs.get(file_identity(dest)) if dest.is_file() else None
        if other is None:
            kept.append((src, dest))
        elif other == src:
            plan.errors.append(f"{dest}: is the input file itself; refused (choose another output)")
        else:
            plan.errors.append(f"{dest}: is the input {other}; refused (choose another output or --suffix)")
    plan.pairs = kept
    return plan


def _earlier_output(file: Path, root: Path, out: Path, tag: str) -> bool:
    """Whether ``file`` (found below the input folder ``root``) is where this run's outputs go."""
    try:
        rel = file.resolve().relative_to(out.resolve())
    except ValueError:
        return False  # not inside the output folder
    if out.resolve() != root.resolve():
        return True  # an output folder inside the input folder: everything in it is output
    return bool(tag) and Path(rel).stem.endswith(tag)  # without a suffix the run is refused anyway


def drop_earlier_outputs(plan: Plan) -> None:
    """Leave out inputs found in a folder that look like an earlier run's output of another input: named as srgan
    upscale names outputs (``a.png`` -> ``x4/a.png`` in another folder, or ``a_x4.png`` beside it) and exactly k
    times its size, k >= 2, upright or turned (EXIF-rotated photos are written upright). A new output folder
    inside the input folder (``-o photos/x4_srgan`` after ``-o photos/x4``) took them for photos: a 12-megapixel
    photo's x4 output is under the 200-megapixel limit, and its x16 would have needed ~9 GB and hours. A file
    named on the command line is never left out; ``icon@2x.png`` beside ``icon.png`` is no output of srgan's."""
    from .images import ImageError, read_size

    sizes: dict[Path, tuple[int, int]] = {}
    for src, _dest in plan.pairs:
        try:
            sizes[src] = read_size(src)
        except ImageError:
            pass  # reported when it is read
    by_stem: dict[str, list[Path]] = {}
    for src in sizes:
        by_stem.setdefault(src.stem, []).append(src)
    kept = []
    for src, dest in plan.pairs:
        original = _upscaled_from(src, sizes, by_stem) if os.path.realpath(src) in plan.scanned else None
        if original is None:
            kept.append((src, dest))
            continue
        k = max(sizes[src]) // max(sizes[original])
        plan.lookalikes.append(f"{src} ({original}'s name, x{k} its size)")
    plan.pairs = kept


def first_and_more(items: list) -> str:
    """``a`` or ``a and 4 more``: a warning that names one of many things and counts the rest."""
    return f"{items[0]}" + (f" and {len(items) - 1} more" if len(items) > 1 else "")


def few(items, n: int) -> str:
    """``a, b, c (+7 more)``: an error or warning that lists the first ``n`` of many things and counts the rest."""
    names = [str(item) for item in items]
    return ", ".join(names[:n]) + (f" (+{len(names) - n} more)" if len(names) > n else "")


def lookalike_warning(plan: Plan) -> str | None:
    """The one warning line for :attr:`Plan.lookalikes`, or None."""
    if not plan.lookalikes:
        return None
    return (f"left out {len(plan.lookalikes)} file(s) that look like earlier outputs of other inputs: "
            f"{first_and_more(plan.lookalikes)}; name a file to upscale it")


def _upscaled_from(src: Path, sizes: dict, by_stem: dict) -> Path | None:
    """The input ``src`` looks upscaled from, by name and an exact integer ratio of sizes (see above)."""
    if src not in sizes:
        return None
    candidates = [o for o in by_stem.get(src.stem, ()) if o.parent != src.parent]  # x4/a.png
    cut = src.stem.rfind("_")
    while cut > 0:  # a_x4.png, a_b_x4.png beside a.png or a_b.png
        candidates += [o for o in by_stem.get(src.stem[:cut], ()) if o.parent == src.parent]
        cut = src.stem.rfind("_", 0, cut)
    for other in candidates:
        for w, h in (sizes[src], sizes[src][::-1]):
            ow, oh = sizes[other]
            if other != src and ow and oh and w % ow == 0 and w // ow >= 2 and h == w // ow * oh:
                return other
    return None


def _outside(folder: Path, root: Path) -> str | None:
    """Why ``folder`` (below the output folder ``root``) leads outside it through a symbolic link, or None."""
    real_root = root.resolve()
    for part in [folder, *folder.parents]:
        if part == root or part in root.parents:
            return None
        if part.is_symlink() and not part.resolve().is_relative_to(real_root):
            return f"{part} is a symbolic link to {part.resolve()}, outside the output folder {root}"
    return None


def names_a_folder(path: str) -> bool:
    """Whether an output named on the command line is a folder: an existing one, or one by its trailing slash
    (``out/``, which would otherwise become a file called ``out``)."""
    return path.endswith(("/", os.sep)) or os.path.isdir(path)


def check_output_file_name(given: str, suffix: str, option: str) -> Path:
    """The file an option such as ``--json`` or ``--onnx`` names (``~`` expanded), checked before long work: not
    a folder, named ``suffix``, and writable (:func:`file_output_problem`); else a one-line OSError/ValueError."""
    path = without_made_up_folders(os.path.expanduser(given))  # x/../r.json is r.json, whether x exists or not
    if names_a_folder(str(path)) or names_a_folder(given):
        raise IsADirectoryError(f"{given}: is a folder; {option} takes a file name such as "
                                f"{os.path.join(given, 'srgan' + suffix)}")
    if path.suffix.lower() != suffix:  # `--json a.png` could replace an image --save-images writes
        raise ValueError(f"{given}: {option} takes a {suffix} file name")
    problem = file_output_problem(path)
    if problem:  # a name too long, a parent that is a file, a folder that cannot be written
        raise OSError(f"{given}: {problem}")
    return path


def refused_before_work(src: Path, dest: Path, final_scale: float, model_scale: int, max_pixels: int) -> str | None:
    """An output problem known before upscaling, from the input's header: one of :func:`output_size_problem`'s
    (it used to fail after the model had run)."""
    from .images import ImageError, read_size

    try:
        width, height = read_size(src)
    except ImageError:
        return None  # unreadable: reading it reports that, as for any other file
    if width * height > max_pixels:
        return None  # reading it refuses the input itself, the clearer message
    problem = output_size_problem(width, height, dest, final_scale, model_scale, max_pixels)
    return problem and f"{dest}: {problem}"


def unfit_warning(existing: list[tuple[Path, Path]], outscale: float | None, model: str,
                  kept_by: str = "--skip-existing") -> str | None:
    """The one warning for the outputs ``--skip-existing`` keeps that this run would not write
    (:func:`unfit_outputs`), or None. A rerun with another ``-s``, or over a file another tool left empty, kept
    them without a word (a video's frames came in two sizes). The shipped models and bicubic are x4; another
    model's scale is not known before it is loaded, so only its unreadable outputs are found."""
    from .shipped import NAMES

    ratio = outscale or (4 if model in (*NAMES, "bicubic") else None)
    unfit = unfit_outputs(existing, ratio)
    if not unfit:
        return None
    return (f"{len(unfit)} existing output(s) kept by {kept_by} are not what this run writes: "
            f"{first_and_more(unfit)}; delete them, or pass --overwrite")


#: The last bytes of a whole PNG (its IEND chunk) and JPEG (the end-of-image marker), as srgan writes them.
FILE_ENDS = {".png": b"\0\0\0\0IEND\xaeB`\x82", ".jpg": b"\xff\xd9", ".jpeg": b"\xff\xd9", ".jfif": b"\xff\xd9"}


#: How far from a file's end its end marker is looked for: other tools pad files, or append data after it.
END_SEARCH_BYTES = 64 * 1024


def _jpeg_scan_start(file) -> int:
    """Where a JPEG's coded data begins (its first start-of-scan segment), read off the segment headers: its
    header segments (an ICC profile's tables) may hold the bytes of the end marker. The file's size if none."""
    position = 2  # after the start-of-image marker
    while True:
        file.seek(position)
        head = file.read(4)
        if len(head) < 4 or head[0] != 0xFF:
            return file.seek(0, os.SEEK_END)
        if head[1] == 0xDA:
            return position
        position += 2 + int.from_bytes(head[2:4], "big")


def _cut_short(path: Path) -> bool:
    """Whether a PNG or JPEG lacks its end marker near its end: a copy or download stopped after the header.
    (In a JPEG's coded data 0xFF is always followed by 0x00 or a restart marker, so 0xFFD9 there is the end.)
    Other formats are not checked."""
    end = FILE_ENDS.get(path.suffix.lower())
    if end is None:
        return False
    try:
        with open(path, "rb") as file:
            size = file.seek(0, os.SEEK_END)
            start = _jpeg_scan_start(file) if end == FILE_ENDS[".jpg"] else 0
            file.seek(max(start, size - END_SEARCH_BYTES))
            return end not in file.read()
    except OSError:  # its header was just read: a file that went since is for the next run to find
        return False


def unfit_outputs(pairs: list[tuple[Path, Path]], ratio: float | None) -> list[str]:
    """Existing outputs that ``--skip-existing`` keeps but this run would not have written: empty, without a
    readable header, a PNG or JPEG without its last bytes (cut short after its header) or, when the run's
    output/input ``ratio`` is known, of another size (an earlier run with another ``-s``). Headers and file ends
    only, not decoding; an input that cannot be read is left to the next run."""
    from .images import ImageError, read_size

    unfit = []
    for src, dest in pairs:
        try:
            out = read_size(dest)
        except ImageError:
            unfit.append(f"{dest} (empty or unreadable)")
            continue
        if _cut_short(dest):  # the header alone was read: a frame copied halfway was kept as done
            unfit.append(f"{dest} (cut short)")
            continue
        if ratio is None:
            continue
        try:
            width, height = read_size(src)
        except ImageError:
            continue
        expected = max(1, round(width * ratio)), max(1, round(height * ratio))
        if out not in (expected, expected[::-1]):  # turned: an EXIF-rotated input is written upright
            unfit.append(f"{dest} ({out[0]}x{out[1]}, not {expected[0]}x{expected[1]})")
    return unfit


def output_size_problem(width: int, height: int, dest: Path, final_scale: float, model_scale: int,
                        max_pixels: int) -> str | None:
    """Why a ``width`` x ``height`` input cannot be written at ``final_scale`` to ``dest``, or None: a side the
    format cannot hold, or more pixels than the largest input allowed (``max_pixels``) gives at the model's
    scale, which only an absurd ``--outscale`` reaches."""
    out_w, out_h = max(1, round(width * final_scale)), max(1, round(height * final_scale))
    if out_w * out_h > max_pixels * model_scale ** 2:
        return (f"a {out_w}x{out_h} output is more than {max_pixels * model_scale ** 2:,} pixels "
                "(--max-pixels times the model's scale squared); skipped (lower -s)")
    fmt, max_side = MAX_SIDE.get(Path(dest).suffix.lower(), (None, None))
    if fmt and max(out_w, out_h) > max_side:
        return f"a {max(out_w, out_h)}-px side is more than {fmt} can hold ({max_side} px); skipped (write a .png)"
    return None
