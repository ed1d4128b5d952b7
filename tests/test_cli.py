import argparse
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


def test_the_parser_and_its_help_do_not_load_torch():
    """`import srgan` loaded torch (1.1 s of 1.6 s for `srgan --help` on a Zen 4), and before main's handler was
    in place, so that a Ctrl-C then printed Python's traceback. Only train's help, with its config table, needs it."""
    script = ("import sys\n"
              "from srgan.cli import build_parser\n"
              "parser = build_parser()\n"
              "commands = parser._subparsers._group_actions[0].choices\n"
              "help = parser.format_help()\n"
              "help += ''.join(p.format_help() for name, p in commands.items() if name != 'train')\n"
              "parser.parse_known_args(['upscale', 'photo.jpg', '-o', 'out'])\n"
              "assert 'srgan upscale' in help\n"
              "print(sorted(m for m in ('torch', 'srgan.upscaling', 'srgan.models') if m in sys.modules))\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert (result.returncode, result.stdout, result.stderr) == (0, "[]\n", "")


def test_ctrl_c_while_the_parser_is_built_is_one_line(monkeypatch, capsys):
    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr("srgan.cli.build_parser", interrupted)
    assert main(["train", "--help"]) == 130
    assert capsys.readouterr().err == "srgan: interrupted\n"


@pytest.mark.parametrize("argv, hidden, needed_for, extra", [
    (["upscale", "{photo}", "-o", "{out}", "--precision", "int8"], "openvino", "precision int8", "openvino"),
    (["upscale", "{photo}", "-o", "{out}", "--backend", "openvino"], "openvino", "backend openvino", "openvino"),
    (["export", "--onnx", "{out}/g.onnx"], "onnxscript", "ONNX export", "export"),
    (["serve", "--port", "0"], "uvicorn", "srgan serve", "serve"),
])
def test_a_missing_extra_is_one_line_that_names_it(argv, hidden, needed_for, extra, tmp_path, monkeypatch, capsys):
    """`--precision int8` without OpenVINO said "RuntimeError: --backend openvino needs OpenVINO: pip install
    'srgan[openvino]' (rerun with --debug ...)": a flag the user had not passed, an exception class that reads
    like a bug, and a package name PyPI does not have."""
    from PIL import Image

    Image.new("RGB", (8, 8), (90, 120, 200)).save(tmp_path / "photo.png")
    monkeypatch.setitem(sys.modules, hidden, None)  # import fails with ImportError, as when not installed
    argv = [a.format(photo=tmp_path / "photo.png", out=tmp_path / "out") for a in argv]
    assert main(argv) == 1
    assert capsys.readouterr().err == (f"srgan: error: {needed_for} needs the {extra} extra ({hidden} is not "
                                       f'installed): pip install -e ".[{extra}]" from the srgan checkout\n')


@pytest.mark.parametrize("argv, names", [
    (["upscale", "{tmp}/photo.png", "-o", "{tmp}/out.png", "-n", "esrgan"], "bicubic, srresnet, srgan"),
    (["eval", "--data", "Set5", "--model", "esrgan"], "bicubic, hr, srresnet, srgan"),
    (["export", "--onnx", "{tmp}/g.onnx", "--model", "esrgan"], "srresnet, srgan"),
])
def test_an_unknown_model_name_is_answered_with_what_that_command_takes(argv, names, tmp_path, capsys):
    """One list served all: eval's left out hr, and export's offered bicubic, which it then refused as no network;
    upscale's --help did not list bicubic, which it takes."""
    from PIL import Image

    Image.new("RGB", (8, 8)).save(tmp_path / "photo.png")
    assert main([a.format(tmp=tmp_path) for a in argv]) == 1
    assert capsys.readouterr().err == (f"srgan: error: esrgan: no such weights file; the model is {names} or a "
                                       "weights file path\n")
    for name in names.split(", "):
        if name != "hr":  # eval's own, beside the networks
            assert name in " ".join(build_parser()._subparsers._group_actions[0].choices[argv[0]].format_help().split())


def test_module_entry_point(tmp_path):
    result = subprocess.run([sys.executable, "-m", "srgan", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("srgan ")
    # In the folder that holds a clone named srgan, Python took the clone for a namespace package ahead of the
    # editable install: "ImportError: cannot import name '__version__' from 'srgan' (unknown location)".
    (tmp_path / "srgan" / "docs").mkdir(parents=True)
    result = subprocess.run([sys.executable, "-m", "srgan", "upscale", "--help"], capture_output=True, text=True,
                            cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.startswith("usage: srgan upscale"), result.stderr


def test_a_reader_that_goes_away_is_not_an_error(tmp_path):
    """`srgan data list | head -1`: the pipe closes under srgan, which printed "srgan: error: [Errno 32] Broken
    pipe" (or Python's "Exception ignored ... BrokenPipeError" at exit)."""
    proc = subprocess.Popen([sys.executable, "-m", "srgan", "data", "list", "--data-root", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # before srgan writes: its first write or flush meets a closed pipe
    _, err = proc.communicate(timeout=120)
    assert (proc.returncode, err) == (141, "")


def test_user_error_is_one_line(capsys):
    assert main(["train", "--config", "no-such-config"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("srgan: error: config 'no-such-config' not found") and err.count("\n") == 1
    assert "Traceback" not in err
    assert main(["train", "--config", "smoke", "zzz=1"]) == 1  # a long one is whole: all 40 keys
    assert capsys.readouterr().err.endswith("tensorboard, progress\n")


def test_an_unexpected_error_whose_first_line_ends_in_a_colon_says_the_next(monkeypatch, capsys):
    """A resume into a changed Generator said "RuntimeError: Error(s) in loading state_dict for Generator:" and no
    more."""
    def fail(args):
        raise RuntimeError("Error(s) in loading state_dict for Generator:\n\tMissing key(s): " + '"x", ' * 200)

    monkeypatch.setattr("srgan.train.train_from_cli", fail)
    assert main(["train", "--config", "smoke"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("srgan: error: RuntimeError: Error(s) in loading state_dict for Generator: Missing key(s): "
                          '"x", "x",') and err.count("\n") == 1
    assert '"x", ...' in err and len(err) < 520  # a long list is cut


def test_parser_lists_all_commands():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert sorted(sub.choices) == sorted(COMMANDS)


def _parsers(parser=None):
    """Every parser: the top level, each command and each nested action (study report, data fetch, ...)."""
    parser = parser or build_parser()
    yield parser
    for action in parser._actions:
        if action.choices and hasattr(action, "add_parser"):
            for child in action.choices.values():
                yield from _parsers(child)


def test_every_option_is_described_and_shows_its_default():
    """Issue 12 item 5: e.g. eval --scale and --device had no description, upscale hid its defaults."""
    from srgan.cli import HelpFormatter

    for parser in _parsers():
        for action in parser._actions:
            if hasattr(action, "add_parser"):  # the command list: each command has its own help line
                assert all(choice.help for choice in action._choices_actions), parser.prog
                continue
            assert action.help, f"{parser.prog}: {action.dest} has no help"
            if action.option_strings and action.default not in (None, False, "", argparse.SUPPRESS):
                shown = HelpFormatter(parser.prog)._get_help_string(action)
                assert "default" in shown, f"{parser.prog} {action.option_strings[0]}: default not shown"


def test_help_states_defaults_of_model_precision_and_tile(capsys):
    with pytest.raises(SystemExit):
        main(["upscale", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "(default: srresnet)" in out and "(default: auto)" in out and "'auto' picks the largest tile" in out
    with pytest.raises(SystemExit):
        main(["eval", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "fp32 by default, unlike upscale's auto" in out and "(default: 4)" in out


def test_train_help_lists_every_config_key(capsys, monkeypatch):
    import dataclasses

    from srgan.config import KEY_HELP, TrainConfig

    assert list(KEY_HELP) == [f.name for f in dataclasses.fields(TrainConfig)]
    monkeypatch.setenv("COLUMNS", "80")
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    assert max(map(len, out.splitlines())) <= 80  # the key table is wrapped too (one line ran to 133 characters)
    words = " ".join(out.split())
    for key, text in KEY_HELP.items():
        assert f" {key} {' '.join(text.split())} (default: " in words, key


def test_info_states_the_precision_each_command_picks(capsys):
    from srgan.device import resolve_device, resolve_precision

    assert main(["info"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("precision here"))
    auto = {"torch.float32": "fp32", "torch.bfloat16": "bf16", "torch.float16": "fp16"}[
        str(resolve_precision("auto", resolve_device("auto")))]
    assert f"upscale, serve, train: auto -> {auto}" in line and "eval: fp32" in line


def test_a_cuda_device_is_named_with_its_index(monkeypatch):
    import torch

    from srgan.device import resolve_device

    with pytest.raises(ValueError, match=r"device must be one of .* \(or cuda:N\), got 'cuda:x'"):
        resolve_device("cuda:x")  # torch's "Invalid device string" before
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="device 'cuda:1' requested but no CUDA GPU is available"):
        resolve_device("cuda:1")  # it said 'cuda'
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(ValueError, match=r"device 'cuda:2' requested but torch sees 2 CUDA GPU\(s\), cuda:0 to cuda:1"):
        resolve_device("cuda:2")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)


def test_demo_help_promises_what_the_demo_does(capsys):
    """The demo scores and upscales with the shipped weights; it does not train (issue 12 item 7)."""
    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "demo score and upscale the bundled samples with the shipped weights (no training)" in text


@pytest.mark.parametrize("argv, resume, overrides", [
    (["--resume", "steps=3", "out_dir=r"], "last", ["steps=3", "out_dir=r"]),  # --resume took steps=3 as CKPT
    (["out_dir=r", "--resume", "r/last.pt", "steps=3"], "r/last.pt", ["out_dir=r", "steps=3"]),  # was rejected
    (["steps=3", "--resume"], "last", ["steps=3"]),
])
def test_train_overrides_are_taken_wherever_they_stand(argv, resume, overrides):
    from srgan.cli import _gather_overrides

    args, unknown = build_parser().parse_known_args(["train", "--config", "smoke", *argv])
    assert _gather_overrides(args, unknown) == [] and (args.resume, args.overrides) == (resume, overrides)


@pytest.mark.parametrize("command", [["eval", "--model", "bicubic", "--data", "Set5"], ["degrade", "hr", "-o", "lr"]])
@pytest.mark.parametrize("scale, problem", [("0", "must be 2 or more, got 0"), ("-4", "must be 2 or more, got -4"),
                                            ("x4", "must be a whole number such as 4, got 'x4'")])
def test_scale_must_be_a_whole_factor(command, scale, problem, capsys):
    """--scale 0 ended in ZeroDivisionError and --scale -4 in 'scale must be positive, got -0.25'."""
    with pytest.raises(SystemExit) as info:
        main([*command, "--scale", scale])
    assert info.value.code == 2 and f"argument --scale: {problem}" in capsys.readouterr().err


@pytest.mark.parametrize("argv, name", [
    (["upscale", "", "-o", "out"], "INPUT"),
    (["upscale", "in.png", "-o", ""], "-o/--output"),
    (["eval", "--model", "bicubic", "--data", "Set5", " "], "--data"),
    (["degrade", "", "-o", "lr"], "HR_DIR"),
    (["demo", "-o", ""], "-o/--output"),
    (["data", "fetch", "set5", "--data-root", ""], "--data-root"),
    (["export", "--onnx", ""], "--onnx"),
])
def test_an_empty_path_is_refused(argv, name, capsys, tmp_path, monkeypatch):
    """Path("") is the current folder: `srgan upscale "$UNSET" -o out` upscaled everything below it, eval scored
    it, degrade took it for an HR folder, data fetch --data-root "" wrote to $SRGAN_DATA."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    assert f"error: argument {name}: an empty path (an unset shell variable?)" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command, target, signame", [
    (["degrade", "HR", "-o", "LR"], "srgan.evaluate.degrade_from_cli", "SIGTERM"),
    (["eval", "--model", "bicubic", "--data", "Set5"], "srgan.evaluate.eval_from_cli", "SIGTERM"),
    (["export", "--onnx", "g.onnx"], "srgan.export.export_from_cli", "SIGTERM"),
    (["upscale", "in", "-o", "out"], "srgan.upscale_cli.upscale_from_cli", "SIGHUP"),
])
def test_sigterm_interrupts_a_command_like_ctrl_c(monkeypatch, capsys, command, target, signame):
    """SIGTERM killed degrade and eval outright, so their clean-up never ran: part of an LR set stayed (which the
    next degrade refused as existing files), and eval --save-images left a temporary file. Now it is Ctrl-C's
    KeyboardInterrupt: clean-up, 'srgan: interrupted', exit 130; and the default handler is back afterwards.
    SIGHUP too (a closed terminal or ssh session): an upscale left its hidden temporary file behind."""
    import os
    import signal
    import time

    signum = getattr(signal, signame)

    def killed(*_args, **_kwargs):
        os.kill(os.getpid(), signum)
        time.sleep(5)
        pytest.fail(f"{signame} did not interrupt")

    monkeypatch.setattr(target, killed)
    before = signal.getsignal(signum)
    assert main(command) == 130
    assert capsys.readouterr().err == "srgan: interrupted\n"
    assert signal.getsignal(signum) == before
