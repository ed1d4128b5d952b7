"""Every ``srgan ...`` command in the Markdown a user reads works as written (issue 12 item 1).

Commands come from README.md, docs/*.md and srgan/weights/MODEL_CARD.md: whole lines in fenced shell blocks
(split at ``&&``, ``;`` and ``|``, comments dropped) and inline code spans starting with ``srgan ``. For each,
its command's ``--help`` runs and lists every option the docs use; a fenced command must also parse exactly as
``srgan`` would parse it; and every benchmark name given to ``--data`` must be found the way a user's would.
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from srgan.cli import build_parser, main
from srgan.datasets import resolve_benchmark

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), REPO / "srgan" / "weights" / "MODEL_CARD.md"]


def _blocks(text: str):
    """(language, body) of each fenced block, in order."""
    language, lines = None, []
    for line in text.splitlines():
        if line.startswith("```"):
            if language is None:
                language, lines = line[3:].strip(), []
            else:
                yield language, "\n".join(lines)
                language = None
        elif language is not None:
            lines.append(line)


def _fenced_commands(text: str):
    for language, body in _blocks(text):
        if language not in ("", "bash", "sh", "shell", "console"):
            continue
        for line in body.replace("\\\n", " ").splitlines():
            if language == "" and not line.startswith("srgan "):
                continue  # an unlabeled block may be a folder tree or output, not shell
            lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
            lexer.whitespace_split = True
            words = list(lexer)
            while words:  # one command between the shell's ; && || |
                cut = next((i for i, w in enumerate(words) if set(w) <= set(";&|")), len(words))
                part, words = words[:cut], words[cut + 1:]
                # the program, not a word such as "for m in bicubic srresnet srgan": first, or after
                # "python -m", "torchrun ... -m" or a loop's "do"
                at = [i for i, w in enumerate(part) if w == "srgan" and (i == 0 or part[i - 1] in ("-m", "do"))]
                if at:
                    yield part[at[0] + 1:]


def _inline_commands(text: str):
    for span in re.findall(r"`(srgan [^`]*)`", text):
        yield span.replace("[", " ").replace("]", " ").split()[1:]


def _documented():
    found = []
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        name = path.relative_to(REPO).as_posix()
        found += [(name, "fenced", words) for words in _fenced_commands(text)]
        found += [(name, "inline", words) for words in _inline_commands(text)]
    return found


COMMANDS = _documented()


def _command_path(words: list[str]) -> list[str]:
    """The (sub)command words, e.g. ['study', 'report'], skipping top-level options such as --debug."""
    parser, path = build_parser(), []
    for word in words:
        if word.startswith("-"):
            continue
        action = next((a for a in parser._actions if hasattr(a, "add_parser")), None)
        if action is None or word not in action.choices:
            break
        parser, path = action.choices[word], path + [word]
    return path


def test_the_docs_hold_the_commands_users_copy():
    fenced = {" ".join(words[:2]) for _doc, kind, words in COMMANDS if kind == "fenced"}
    assert {"demo", "info", "eval --model", "upscale photo.jpg", "train --config", "serve"} <= fenced, fenced


@pytest.mark.parametrize("doc, kind, words", COMMANDS, ids=[f"{d}:{' '.join(w)[:60]}" for d, _k, w in COMMANDS])
def test_documented_command_works_as_written(doc, kind, words, capsys):
    path = _command_path(words)
    if not path:
        assert words and re.fullmatch(r"<\w+>|--debug|--version|\.\.\.", words[0]), f"{doc}: srgan {words}"
    with pytest.raises(SystemExit) as exit_info:
        main([*path, "--help"])
    assert exit_info.value.code == 0
    help_text = capsys.readouterr().out
    for word in words:
        option = word.split("=", 1)[0]
        if option.startswith("-") and option not in ("-", "--"):
            top = build_parser().format_help()
            assert option in help_text or option in top, f"{doc}: `srgan {' '.join(words)}`: no {option}"
    if kind == "fenced":  # whole commands: they must parse as srgan parses them
        args, unknown = build_parser().parse_known_args(words)
        assert unknown == [], f"{doc}: `srgan {' '.join(words)}`: unrecognized {unknown}"


def _eval_data(words: list[str]) -> list[str]:
    if "--data" not in words:
        return []
    after = words[words.index("--data") + 1:]
    return [w for w in after[:next((i for i, w in enumerate(after) if w.startswith("-")), len(after))]]


@pytest.mark.parametrize("name", sorted({w for _d, _k, words in COMMANDS if _command_path(words) == ["eval"]
                                         for w in _eval_data(words) if "$" not in w and "/" not in w}))
def test_documented_benchmark_names_are_found(name, shared_data, monkeypatch):
    """``--data Set5 Set14 BSD100`` from the repo root (it failed: 'Set5: benchmark set folder not found')."""
    monkeypatch.chdir(REPO)
    assert (resolve_benchmark(name) / "HR").is_dir()


#: Documented commands cheap enough to run for real, from a fresh folder, exactly as the docs write them; commands
#: joined by " && " run in turn in that one folder (the first makes what the next reads).
RUN_AS_WRITTEN = [
    "info",
    "eval --model hr --metrics niqe --data BSD100",
    "degrade Set14 -o lr/ --scale 4",
    "upscale photo.jpg -o out/",
    "eval --model bicubic --data Set5 --save-images sr && eval --sr-images sr --data Set5 --json sr.json",
]


@pytest.mark.parametrize("commands", RUN_AS_WRITTEN)
def test_documented_command_runs(commands, shared_data, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SRGAN_DATA", str(shared_data))  # where a user's `srgan data fetch` would have put it
    for command in commands.split(" && "):
        words = command.split()
        assert any(w == words for _d, kind, w in COMMANDS if kind == "fenced"), f"no longer documented: {command}"
        if "photo.jpg" in words:
            from PIL import Image

            Image.new("RGB", (24, 16), (120, 80, 40)).save("photo.jpg")
        assert main(words) == 0, capsys.readouterr().err
        if words[0] == "upscale":
            assert (tmp_path / "out" / "photo.png").is_file()
    if "--sr-images" in commands:  # the numbers the docs give: bicubic's, from its saved images
        import json

        report = json.loads((tmp_path / "sr.json").read_text())["Set5"]
        assert (round(report["psnr"], 2), round(report["ssim"], 4)) == (28.42, 0.8102)
