"""``streamlog completion bash|zsh|fish``: the generated scripts, run in the real shells where installed.

bash is always run: the script is sourced in ``bash --norc`` and ``_streamlog`` called with COMP_WORDS
and COMP_CWORD set, as bash does on TAB.  fish is run with ``complete -C`` (the completions fish itself
would offer).  zsh's completion functions need the line editor, so the zsh script is run with
``_describe``/``compadd``/``_files`` replaced by functions that print what they were given; its
registration is checked through a real ``compinit``.  The subcommand lists are compared with the
parser's, found here by walking argparse directly, so a new command cannot be left out.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
from pathlib import Path

import pytest

from streamlog.cli import completion
from streamlog.cli.main import build_parser, main

CASES: list[tuple[list[str], set[str], bool]] = [  # words (the last one is completed), expected, exact
    (["to"], {"topics"}, True),
    ([""], {"serve", "topics", "produce", "consume", "groups", "completion"}, False),
    (["topics", ""], {"create", "list", "describe", "alter", "delete", "trim-prefix", "delete-records"},
     True),
    (["consume", "--iso"], {"--isolation-level"}, True),
    (["consume", "--isolation-level", ""], {"read_committed", "read_uncommitted"}, True),
    (["consume", "-b", "h:1", "--group", "g", "--isolation-level", "read_c"], {"read_committed"}, True),
    (["topics", "delete-records", "--of"], {"--offset"}, True),
    (["groups", "reset-offsets", "g", "--to-e"], {"--to-earliest"}, True),
    (["serve", "--log-level", ""], {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}, True),
    (["completion", ""], {"bash", "zsh", "fish"}, True),
    (["-"], {"-h", "--help", "--version"}, True),
    (["topics", "create", "orders", "--config", ""], set(), True),  # no choices: the shell's files
]


def subcommand_paths(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every subcommand path (aliases too), read from argparse without the module under test."""
    paths: list[tuple[str, ...]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                paths.append((*prefix, name))
                paths.extend(subcommand_paths(child, (*prefix, name)))
    return paths


@pytest.fixture(scope="module")
def scripts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("completion")
    out = {}
    for shell in completion.SHELLS:
        out[shell] = directory / f"streamlog.{shell}"
        out[shell].write_text(completion.render(build_parser(), shell))
    return out


def run(argv: list[str], script: str = "") -> str:
    result = subprocess.run(argv, input=script, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0 and not result.stderr, result.stderr
    return result.stdout


def bash_complete(script: Path, cases: list[list[str]]) -> list[set[str]]:
    """COMPREPLY for each case, from one bash process."""
    lines = [f"source {script}", "complete -p streamlog"]
    for words in cases:
        quoted = " ".join(f"'{word}'" for word in ["streamlog", *words])
        lines += [f"COMP_WORDS=({quoted}); COMP_CWORD={len(words)}; COMPREPLY=(); _streamlog",
                  'printf "%s " "${COMPREPLY[@]}"; echo']
    output = run(["bash", "--norc", "--noprofile", "-s"], "\n".join(lines) + "\n").splitlines()
    assert output[0] == "complete -o default -F _streamlog streamlog"
    return [set(line.split()) for line in output[1:]]


@pytest.mark.parametrize(("words", "expected", "exact"), CASES)
def test_bash(scripts: dict[str, Path], words: list[str], expected: set[str], exact: bool) -> None:
    [got] = bash_complete(scripts["bash"], [words])
    assert got == expected if exact else expected <= got


def test_bash_option_value_after_equals(scripts: dict[str, Path]) -> None:
    # bash splits --isolation-level=read_c at '=' (COMP_WORDBREAKS); a shell without '=' there does not
    split, whole = bash_complete(scripts["bash"], [["consume", "--isolation-level", "=", "read_c"],
                                                   ["consume", "--isolation-level=read_c"]])
    assert split == {"read_committed"}
    assert whole == {"--isolation-level=read_committed"}


def test_bash_offers_every_subcommand_of_the_parser(scripts: dict[str, Path]) -> None:
    paths = subcommand_paths(build_parser())
    assert ("topics", "trim-prefix") in paths and ("completion",) in paths
    replies = bash_complete(scripts["bash"], [[*path[:-1], ""] for path in paths])
    missing = [path for path, reply in zip(paths, replies, strict=True) if path[-1] not in reply]
    assert not missing


@pytest.mark.parametrize("shell", completion.SHELLS)
def test_every_subcommand_is_declared(scripts: dict[str, Path], shell: str) -> None:
    text = scripts[shell].read_text()
    for path in subcommand_paths(build_parser()):
        parent = " ".join(path[:-1])
        if shell == "bash":  # the parent's case line: 'PARENT') cmds='... NAME ...' args=...
            [line] = [line for line in text.splitlines() if line.strip().startswith(f"'{parent}')")]
            assert path[-1] in line.split("cmds='")[1].split("'")[0].split(), path
        elif shell == "zsh":
            [line] = [line for line in text.splitlines() if line.strip().startswith(f"('{parent}')")]
            assert f"cmds=('{path[-1]}:" in line or f" '{path[-1]}:" in line.split("args=(")[0], path
        else:
            assert f"__streamlog_at \"{parent}\"' -a {path[-1]} -d " in text, path


def test_zsh_declarations(scripts: dict[str, Path]) -> None:
    text = scripts["zsh"].read_text()
    assert text.startswith("#compdef streamlog\n")
    assert "('consume|--isolation-level') choices=(" in text
    assert "compdef _streamlog streamlog" in text
    assert "'--format:output format: %t topic, %p partition" in text  # help as argparse shows it


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh not installed: its script is checked as text")
def test_zsh(scripts: dict[str, Path], tmp_path: Path) -> None:
    functions = tmp_path / "functions"
    functions.mkdir()
    (functions / "_streamlog").write_text(scripts["zsh"].read_text())
    lines = [
        f"fpath=({functions} $fpath)",
        f"autoload -U compinit && compinit -u -d {tmp_path / 'zcompdump'}",
        "print -r -- REGISTERED $_comps[streamlog]",
        "_describe() { local name=${@[-1]}; print -rl -- ${${(P)name}%%:*}; }",
        "compadd() { while [[ $1 != -- ]]; do shift; done; shift; print -rl -- $@; }",
        "_files() { print -r -- FILES; }",
        "compset() { return 0; }",
    ]
    for words, _expected, _exact in CASES:
        quoted = " ".join(f"'{word}'" for word in ["streamlog", *words])
        lines += ["print -r -- CASE", f"words=({quoted}); CURRENT={len(words) + 1}; _streamlog"]
    output = run(["zsh", "-f", "-s"], "\n".join(lines) + "\n")
    head, *cases = output.split("CASE\n")
    assert head.strip() == "REGISTERED _streamlog"
    for (words, expected, exact), case in zip(CASES, cases, strict=True):
        offered = {word for word in case.split() if word.startswith(words[-1])}  # zsh filters itself
        if not expected:
            assert offered == {"FILES"}, words
        else:
            assert offered == expected if exact else expected <= offered, words


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish not installed: its script is checked as text")
@pytest.mark.parametrize(("words", "expected", "exact"), [case for case in CASES if case[1]])
def test_fish(scripts: dict[str, Path], words: list[str], expected: set[str], exact: bool) -> None:
    line = " ".join(["streamlog", *words])
    output = run(["fish", "--no-config", "-c", f"source {scripts['fish']}; complete -C '{line}'"])
    offered = {entry.split("\t")[0] for entry in output.splitlines()}
    assert offered == expected if exact else expected <= offered


def test_fish_declarations(scripts: dict[str, Path]) -> None:
    text = scripts["fish"].read_text()
    [choices] = [line for line in text.splitlines() if "-l isolation-level -x -a" in line]
    assert choices.startswith("complete -c streamlog -n '__streamlog_at \"consume\"'")
    assert {"read_committed", "read_uncommitted"} <= set(choices.split("-a ")[1].strip("'").split())
    assert "complete -c streamlog -n '__streamlog_at \"\"' -a topics -d " in text
    assert "-l bootstrap -s b -r -d " in text


def test_the_command_prints_the_script(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["completion", "bash"]) == 0
    assert capsys.readouterr().out == completion.render(build_parser(), "bash")
    assert main(["completion", "tcsh"]) == 2
    assert "invalid choice: 'tcsh'" in capsys.readouterr().err


def test_walk_reads_aliases_choices_and_values() -> None:
    commands = {path: command for command in completion.walk(build_parser()) for path in command.paths}
    assert commands[("topics", "delete-records")] is commands[("topics", "trim-prefix")]
    helps = dict(commands[("topics",)].subcommands)
    assert helps["delete-records"] == helps["trim-prefix"]
    assert helps["trim-prefix"] == "delete the records below an offset (DeleteRecords)"
    consume = {flag: option for option in commands[("consume",)].options for flag in option.flags}
    assert consume["--isolation-level"].choices and consume["--isolation-level"].takes_value
    assert not consume["--from-beginning"].takes_value
    assert consume["-b"] is consume["--bootstrap"]
    assert commands[("completion",)].arguments == completion.SHELLS


def toy_parser() -> argparse.ArgumentParser:
    """A root option taking a value that may look like a subcommand (the real parser has none)."""
    parser = argparse.ArgumentParser(prog="streamlog")
    parser.add_argument("--profile", "-p", metavar="NAME")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("run").add_argument("--fast", action="store_true")
    commands.add_parser("stop")
    return parser


TOY_CASES: list[tuple[list[str], set[str]]] = [
    (["--profile", "run", ""], {"run", "stop"}),  # 'run' was --profile's value
    (["-p", "run", "--f"], set()),
    (["-p", "x", "run", "--f"], {"--fast"}),
]


@pytest.mark.parametrize("shell", completion.SHELLS)
def test_option_values_are_not_subcommands(shell: str, tmp_path: Path) -> None:
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed")
    script = tmp_path / f"toy.{shell}"
    script.write_text(completion.render(toy_parser(), shell))
    for words, expected in TOY_CASES:
        if shell == "bash":
            [offered] = bash_complete(script, [words])
        elif shell == "fish":
            line = " ".join(["streamlog", *words])
            output = run(["fish", "--no-config", "-c", f"source {script}; complete -C '{line}'"])
            offered = {entry.split("\t")[0] for entry in output.splitlines()}
        else:
            quoted = " ".join(f"'{word}'" for word in ["streamlog", *words])
            output = run(["zsh", "-f", "-s"], "\n".join([
                "compdef() { }", f"source {script}",
                "_describe() { local name=${@[-1]}; print -rl -- ${${(P)name}%%:*}; }",
                f"words=({quoted}); CURRENT={len(words) + 1}; _streamlog"]) + "\n")
            offered = {word for word in output.split() if word.startswith(words[-1])}
        assert offered == expected, (shell, words)
