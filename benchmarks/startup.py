"""How long the ``srgan`` command takes to answer before any work: ``--help``, a usage error, ``import srgan``.

    python benchmarks/startup.py [--repeats 7] [--repo PATH ...]

Each command runs in a fresh interpreter (``python -m srgan ...``, as the ``srgan`` script runs it), the
commands and checkouts interleaved, and the median wall time of ``--repeats`` runs is printed. ``--repo`` times
another checkout of srgan beside this one (e.g. a ``git worktree`` of an older commit), with the same Python.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from srgan.device import cpu_name  # noqa: E402

COMMANDS = {
    "import srgan": ["-c", "import srgan"],
    "srgan --help": ["-m", "srgan", "--help"],
    "srgan upscale --help": ["-m", "srgan", "upscale", "--help"],
    "srgan upscale (usage error)": ["-m", "srgan", "upscale", "photo.jpg"],
    "srgan train --help": ["-m", "srgan", "train", "--help"],
}


def run_once(repo: str, argv: list[str], expect_failure: bool) -> float:
    env = {**os.environ, "PYTHONPATH": os.path.abspath(repo)}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *argv], cwd=repo, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    if (done.returncode != 0) != expect_failure:  # a checkout that fails to import was timed as if it worked
        raise SystemExit(f"{repo}: {' '.join(argv)} exited {done.returncode}: {done.stderr.strip()[-300:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--repo", action="append", metavar="PATH",
                        help="a checkout of srgan to time (repeatable; default: this one)")
    args = parser.parse_args()
    if args.repeats < 1:  # the median of no runs was a traceback
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    repos = args.repo or [os.path.join(os.path.dirname(__file__), "..")]
    for repo in repos:  # without its srgan, the installed one was imported and timed
        if not os.path.isfile(os.path.join(repo, "srgan", "__init__.py")):
            parser.error(f"--repo {repo}: no srgan/__init__.py there")
    times = {(repo, name): [] for repo in repos for name in COMMANDS}
    for _ in range(args.repeats):
        for name, argv in COMMANDS.items():
            for repo in repos:
                times[repo, name].append(run_once(repo, argv, expect_failure="usage error" in name))
    print(f"{cpu_name()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}; medians of {args.repeats} runs, s")
    width = max(map(len, COMMANDS))
    print(f"{'':<{width}}  " + "  ".join(f"{os.path.basename(os.path.abspath(r)):>10}" for r in repos))
    for name in COMMANDS:
        print(f"{name:<{width}}  " + "  ".join(f"{statistics.median(times[r, name]):>10.3f}" for r in repos))


if __name__ == "__main__":
    main()
