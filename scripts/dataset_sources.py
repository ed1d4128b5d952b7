"""Write srgan/datasets.tsv: for every file ``srgan data fetch`` downloads, where it comes from and its sha256.

The sha256s are computed from ../shared/data, whose files are byte-identical copies of the public files (its
MANIFEST.md names repository, commit and path of each):
``python scripts/dataset_sources.py [--data ../shared/data]`` (the defaults are beside this checkout, wherever it
is run from).
"""
from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

from srgan.datasets import development_data

REPO = Path(__file__).resolve().parents[1]
SET5 = ("baby", "bird", "butterfly", "head", "woman")
SET14 = ("baboon", "barbara", "bridge", "coastguard", "comic", "face", "flowers", "foreman", "lenna", "man",
         "monarch", "pepper", "ppt3", "zebra")


def selfexsr_rows(data: Path, key: str, folder: str, names: list[str]):
    # SelfExSR numbers a set's images img_001, img_002, ... in the order of the names above (MANIFEST.md §1);
    # for BSD100 that order is the lexicographic order of the BSDS ids.
    for i, name in enumerate(names, 1):
        for kind, local in (("HR", "HR"), ("LR", "LR_bicubic_x4")):
            dest = f"benchmarks/{folder}/{local}/{name}.png"
            yield key, dest, f"data/{folder}/image_SRF_4/img_{i:03d}_SRF_4_{kind}.png", data / dest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=development_data())
    parser.add_argument("-o", "--output", type=Path, default=REPO / "srgan" / "datasets.tsv")
    args = parser.parse_args()
    data = args.data
    if not (data / "benchmarks").is_dir() or not (data / "train").is_dir():  # each missing file was a traceback
        parser.error(f"--data {data}: expected the data root holding benchmarks/ and train/")
    bsd100 = sorted(p.stem for p in (data / "benchmarks/BSD100/HR").glob("*.png"))
    rows = [*selfexsr_rows(data, "set5", "Set5", list(SET5)),
            *selfexsr_rows(data, "set14", "Set14", list(SET14)),
            *selfexsr_rows(data, "bsd100", "BSD100", bsd100)]
    for p in sorted((data / "train/T91").glob("*.bmp")):
        rows.append(("t91", f"train/T91/{p.name}", f"data/yang91/{p.name}", p))
    for p in sorted((data / "train/BSD200").glob("*.png")):
        rows.append(("bsd200", f"train/BSD200/{p.name}", f"data/bsd200/{p.name}", p))
    lines = ["# set\tdestination below the data root\tpath in the source repository\tsha256\tbytes"]
    for key, dest, source, local in rows:
        blob = local.read_bytes()
        lines.append(f"{key}\t{dest}\t{source}\t{hashlib.sha256(blob).hexdigest()}\t{len(blob)}")
    args.output.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(rows)} files' sources to {args.output}")


if __name__ == "__main__":
    main()
