"""One grammar across the verbs: the same options mean the same thing everywhere, every help
shows its defaults, old spellings still work (with one deprecation line), errors point at the
verb's help, and help is built without importing torch."""

import argparse
import subprocess
import sys

import pytest

from effnet.cli import VERBS, build_parser, main


def _verb_parsers() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


@pytest.mark.parametrize("verb", VERBS)
def test_every_option_has_help_and_shows_its_default(verb):
    parser = _verb_parsers()[verb]
    formatter = parser._get_formatter()
    for action in parser._actions:
        if not action.option_strings or action.help == argparse.SUPPRESS:
            continue
        if isinstance(action, argparse._HelpAction):
            continue
        text = formatter._expand_help(action) if action.help else ""
        assert text, f"effnet {verb} {action.option_strings[0]} has no help"
        shows_default = action.default is None or (action.nargs == 0 and action.default is False)
        if not shows_default:  # a value is used when the option is absent: the help says it
            assert "default" in text, f"effnet {verb} {action.option_strings[0]}: {text!r}"


@pytest.mark.parametrize("verb", VERBS)
def test_help_of_every_verb_runs(verb, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([verb, "--help"])
    assert exit_info.value.code == 0
    assert f"usage: effnet {verb}" in capsys.readouterr().out


RUNTIME = {"-b", "--batch-size", "--device", "--amp", "--workers"}


@pytest.mark.parametrize("verb", ["train", "finetune", "eval", "predict"])
def test_runtime_options_are_the_same_in_every_verb(verb):
    parser = _verb_parsers()[verb]
    by_flag = {s: a for a in parser._actions for s in a.option_strings}
    assert RUNTIME <= set(by_flag), verb
    assert set(by_flag["--amp"].choices) == {"bf16", "fp16", "none"}
    assert tuple(by_flag["--device"].choices) == ("cpu", "cuda")
    assert by_flag["--workers"].default is None  # from the cores, as train does


@pytest.mark.parametrize("verb", ["train", "finetune", "eval", "predict", "cam", "export"])
def test_every_verb_that_reads_weights_takes_both_spellings(verb):
    flags = {s for a in _verb_parsers()[verb]._actions for s in a.option_strings}
    assert {"--weights", "--pretrained", "--model", "--source"} <= flags


@pytest.mark.parametrize(
    ("argv", "dest", "value", "old"),
    [
        (["finetune", "--from", "w.safetensors"], "weights", "w.safetensors", "--from"),
        (["train", "--init-from", "w.safetensors"], "weights", "w.safetensors", "--init-from"),
        (["search", "--out", "o", "--workers", "3"], "jobs", 3, "--workers"),
    ],
)
def test_old_spellings_are_hidden_aliases_with_one_deprecation_line(argv, dest, value, old, capsys):
    parser = build_parser()
    args = parser.parse_args(argv)
    assert getattr(args, dest) == value
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{old} is deprecated" in err
    verb_help = _verb_parsers()[argv[0]].format_help()
    assert old not in verb_help.replace("--weights", "")  # hidden


@pytest.mark.parametrize(
    ("argv", "dest", "value"),
    [
        (["data", "demo"], "dir", "demo"),
        (["data", "--data", "demo"], "dir_flag", "demo"),
        (["summary", "efficientnet_b0"], "name", "efficientnet_b0"),
        (["summary", "--model", "efficientnet_b0"], "name_flag", "efficientnet_b0"),
        (["predict", "a.png", "b.png"], "images", ["a.png", "b.png"]),
        (["predict", "--image", "a.png", "b.png"], "images_flag", ["a.png", "b.png"]),
        (["cam", "a.png", "--out", "x.png"], "images", ["a.png"]),
        (["cam", "--image", "a.png", "--out", "x.png"], "images_flag", ["a.png"]),
    ],
)
def test_inputs_are_positional_with_the_flag_spelling_too(argv, dest, value):
    assert getattr(build_parser().parse_args(argv), dest) == value


def test_the_flag_spelling_runs_as_the_positional_one(capsys):
    assert main(["summary", "--model", "efficientnet_b0", "--json"]) == 0
    by_flag = capsys.readouterr().out
    assert main(["summary", "efficientnet_b0", "--json"]) == 0
    assert capsys.readouterr().out == by_flag


def test_an_unknown_flag_points_at_the_verbs_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["eval", "--data", "demo", "--bogus", "1"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "unrecognized arguments: --bogus 1" in err and "(see effnet eval --help)" in err


def test_version_and_list(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    import effnet

    assert capsys.readouterr().out.strip() == f"effnet {effnet.__version__}"
    assert main(["list", "*lite*"]) == 0
    assert capsys.readouterr().out.split() == [f"efficientnet_lite{i}" for i in range(5)]
    assert main(["list", "*b0*", "--pretrained"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["efficientnet_b0.ra_in1k", "timm", "(default)"]
    assert any(line.split()[:2] == ["efficientnet_b0.tv_in1k", "torchvision"] for line in lines)
    assert main(["list", "nothing*"]) == 1


@pytest.mark.parametrize("argv", [["--help"], ["train", "--help"], ["predict", "--help"]])
def test_help_does_not_import_torch(argv):
    code = (
        "import sys\n"
        "from effnet.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = sorted(m for m in ('torch', 'torchvision', 'numpy', 'PIL') if m in sys.modules)\n"
        "print('imported:', ','.join(heavy) or 'none', file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "imported: none" in result.stderr, result.stderr
