"""The README's commands are real: every ``effnet ...`` line parses with the CLI's own parser,
the Python examples that need no files run, and the guide stays short."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from effnet.cli import build_parser

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.S)


def blocks(language: str) -> list[str]:
    return [body for lang, body in BLOCK.findall(README.read_text()) if lang == language]


def effnet_commands() -> list[list[str]]:
    commands = []
    for body in blocks("bash"):
        for line in body.splitlines():
            words = shlex.split(line, comments=True)
            if "effnet" in words and words[0] in ("effnet", "torchrun", "OMP_NUM_THREADS=1"):
                commands.append(words[words.index("effnet") + 1 :])
    return commands


def test_readme_is_a_short_guide_opening_with_the_three_commands():
    lines = README.read_text().splitlines()
    assert len(lines) <= 300, f"README has {len(lines)} lines"
    first = blocks("bash")[0].splitlines()
    assert [line.split()[0:2] for line in first] == [
        ["pip", "install"],
        ["effnet", "train"],
        ["python", "-m"],
    ]


@pytest.mark.parametrize("argv", effnet_commands(), ids=lambda argv: " ".join(argv)[:60])
def test_readme_command_parses(argv):
    args = build_parser().parse_args(argv)
    assert args.verb == argv[0]


def test_readme_lists_many_commands():
    verbs = {argv[0] for argv in effnet_commands()}
    assert {"train", "predict", "finetune", "export", "scale", "search", "cam"} <= verbs


@pytest.mark.parametrize(
    "marker", ["effnet.list_models(", "effnet.scale("], ids=["models", "scaling"]
)
def test_readme_python_example_runs(marker):
    (body,) = [b for b in blocks("python") if b.lstrip().startswith(marker)]
    import effnet

    exec(compile(body, "README.md", "exec"), {"effnet": effnet})
