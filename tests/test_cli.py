import subprocess
import sys

import pytest

from srgan.cli import build_parser, main

COMMANDS = ["info", "demo", "train", "eval", "degrade", "upscale", "export", "serve", "study", "data"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    assert f"srgan {command}" in capsys.readouterr().out


def test_info_reports_device_and_parameters(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "torch" in out and "cpu bf16" in out and "1,547,350 parameters" in out


def test_module_entry_point():
    result = subprocess.run([sys.executable, "-m", "srgan", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("srgan ")


def test_user_error_is_one_line(capsys):
    assert main(["train", "--config", "no-such-config"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("srgan: error: config 'no-such-config' not found") and err.count("\n") == 1
    assert "Traceback" not in err


def test_parser_lists_all_commands():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert sorted(sub.choices) == sorted(COMMANDS)
