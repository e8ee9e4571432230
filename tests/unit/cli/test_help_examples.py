"""Every leaf command's ``--help`` ends with examples, and every example parses.

The leaves are found by walking the real parser, so a new command without examples fails here.  Each
example line is cut to its ``streamlog ...`` words (a pipe before it, a ``#`` comment or a redirection
after it dropped; a trailing backslash joins the next line) and parsed, validation included, so an
example cannot name a flag that does not exist or was renamed.
"""

from __future__ import annotations

import argparse
import shlex

import pytest

from streamlog.cli.main import build_parser, parse_args


def leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...],
                                                                                     argparse.ArgumentParser]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            seen: set[int] = set()
            for name, child in action.choices.items():
                if id(child) not in seen:  # an alias is the same parser
                    seen.add(id(child))
                    found.extend(leaves(child, (*path, name)))
            return found
    return [(path, parser)]


LEAVES = leaves(build_parser())
# Commands still being written elsewhere; strict, so this goes red (XPASS) once they have examples.
PENDING: dict[str, str] = {}  # command -> why its subcommands have no examples yet (strict xfail)


def examples(help_text: str) -> list[list[str]]:
    """The ``streamlog`` command lines of the help's examples section, as words."""
    lines = help_text.split("\nexamples:\n", 1)[1].splitlines()
    joined: list[str] = []
    for line in lines:
        if joined and joined[-1].endswith("\\"):
            joined[-1] = joined[-1][:-1] + line
        else:
            joined.append(line)
    commands = []
    for line in joined:
        words = shlex.split(line, comments=True)
        if "streamlog" not in words:
            continue  # e.g. eval "$(streamlog completion bash)"
        words = words[words.index("streamlog") + 1:]
        for stop in ("|", ">", ">>", "<"):
            if stop in words:
                words = words[:words.index(stop)]
        commands.append(words)
    return commands


def test_the_walk_finds_the_commands() -> None:
    paths = {path for path, _ in LEAVES}
    assert {("serve",), ("produce",), ("topics", "create"), ("groups", "reset-offsets"),
            ("schema", "check"), ("streams", "reset"), ("completion",)} <= paths
    assert ("topics",) not in paths and ("topics", "delete-records") not in paths


@pytest.mark.parametrize(("path", "parser"), [
    pytest.param(path, parser, id=" ".join(path),
                 marks=[pytest.mark.xfail(reason=PENDING[path[0]], strict=True)] if path[0] in PENDING
                 else [])
    for path, parser in LEAVES])
def test_every_leaf_command_has_examples(path: tuple[str, ...], parser: argparse.ArgumentParser) -> None:
    text = parser.format_help()
    assert "\nexamples:\n" in text, f"streamlog {' '.join(path)} --help has no examples"
    commands = examples(text)
    assert commands, "no streamlog command line among the examples"
    for words in commands:
        names = [word for word in words if not word.startswith("-")]
        assert names[:len(path)] == list(path) or path == ("topics", "trim-prefix"), words
        args = parse_args(words)  # SystemExit (with argparse's message on stderr) when it does not parse
        assert args.command == path[0]
