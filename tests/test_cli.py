"""The ``cdig`` command line: help, version, argument errors and the demo subcommand."""

import json
import subprocess
import sys

import pytest

import cdig
from cdig.cli import build_parser, main
from cdig.testing import requires_matplotlib, requires_sklearn, requires_torch


def test_top_level_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "usage: cdig" in out and "demo" in out and "Cross-Domain Integrated Gradients" in out


def test_demo_help_reads_well(capsys):
    with pytest.raises(SystemExit) as e:
        main(["demo", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--out DIR", "--samples", "--epochs", "--steps", "--seed", "--no-progress", "summary.json"):
        assert flag in out, flag


@pytest.mark.parametrize("command", ["demo", "explain", "report"])
def test_every_command_has_quiet_and_verbose(capsys, command):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = capsys.readouterr().out
    assert "-q, --quiet" in out and "-v, --verbose" in out


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"cdig {cdig.__version__}"


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "usage: cdig" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["demo", "--samples", "0"], "--samples: 0 is out of range"),
        (["demo", "--samples", "101"], "--samples: 101 is out of range"),
        (["demo", "--samples", "ten"], "'ten' is not an integer"),
        (["demo", "--epochs", "0"], "--epochs: 0 is out of range"),
        (["demo", "--steps", "lots"], "neither a positive integer nor 'auto'"),
        (["demo", "--steps", "0"], "--steps: 0 must be a positive integer"),
        (["demo", "--seed", "-1"], "--seed: -1 is out of range"),
        (["demo", "--bogus"], "unrecognized arguments: --bogus"),
        (["explode"], "invalid choice: 'explode'"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(capsys, argv, message):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "--help'" in err  # one line; the usage is one --help away


def test_parser_defaults():
    args = build_parser().parse_args(["demo"])
    assert (args.out, args.samples, args.seed, args.progress) == ("cdig-demo", 32, 0, True)
    assert build_parser().parse_args(["demo", "--steps", "AUTO", "--no-progress"]).steps == "auto"


@requires_torch
@requires_sklearn
@requires_matplotlib
def test_demo_runs_and_says_where(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["demo", "--out", str(out), "--epochs", "4", "--samples", "4", "--steps", "8", "--no-progress"])
    assert code == 0
    printed = capsys.readouterr().out
    assert str(out.resolve()) in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["epochs"] == 4 and summary["explained"]["n"] == 4
    assert summary["accuracy"] >= 0.9
    assert all((out / name).is_file() for name in summary["files"])


def test_missing_dependency_is_one_line_with_the_hint(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
    assert main(["demo", "--out", str(tmp_path / "x"), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "cdig demo: error:" in err and "pip install 'cdig[all]'" in err


def test_cli_imports_without_torch_and_python_dash_m_works():
    code = (
        "import sys; from cdig.cli import build_parser; build_parser(); "
        "print(any(m in sys.modules for m in ('torch', 'sklearn', 'matplotlib')))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "False"
    run = subprocess.run([sys.executable, "-m", "cdig", "--version"], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == f"cdig {cdig.__version__}"
