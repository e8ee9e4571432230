"""``streamlog completion bash|zsh|fish``: shell completion scripts generated from the argparse parsers.

Theory of operation: :func:`walk` reads the parser tree that :func:`streamlog.cli.main.build_parser`
builds (the same one that parses the command line, so a new command or flag is completed without
anyone remembering to) into flat :class:`Command` records: each command path with its subcommands
(aliases included), the choices of its positionals, and its options (every spelling, whether it takes
a value, and its ``choices=``).  Each ``render_*`` function turns those records into a static script,
so pressing TAB never starts Python:

- ``_streamlog_spec PATH`` (a ``case`` over every command path, aliases as alternative patterns) gives
  the subcommands, positional choices, options and value-taking options of a path; ``_streamlog_choices``
  gives an option's choices.  That data is the only part that differs between programs.
- The completion function walks the words typed before the cursor: a word naming a subcommand of the
  current path descends into it, a value-taking option skips its value (also ``--opt VALUE`` split by
  bash at ``=``), anything else is a positional and changes nothing.  Then: after a value-taking option
  offer its choices (none: the shell's file completion), on a word starting with ``-`` the path's
  options, else its subcommands and positional choices.

fish has no completion function of its own to replace, so its script defines ``__streamlog_path``
(the same walk over ``commandline -opc``) and one ``complete -n '__streamlog_at PATH'`` line per
candidate, which also carries the help text as the description; zsh shows the help text through
``_describe``.  Names and choices that are not plain tokens (letters, digits and ``_.:/@+,-``; the
parsers have none) are left out rather than quoted for three shells' rules.  Topic names are not
completed: that would need a broker at TAB time.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import re
import textwrap
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from streamlog.cli.base import PROG

SHELLS: Final = ("bash", "zsh", "fish")
_TOKEN: Final = re.compile(r"[A-Za-z0-9_.:/@+,-]+")
_DESCRIPTION_WIDTH: Final = 72


@dataclass(frozen=True, slots=True)
class Option:
    """One optional argument: every spelling (``-b``, ``--bootstrap``), whether it takes a value, its
    choices (empty: any value), and its help text on one line."""

    flags: tuple[str, ...]
    takes_value: bool
    choices: tuple[str, ...]
    help: str


@dataclass(frozen=True, slots=True)
class Command:
    """One command level: its spellings as word paths (several when it or an ancestor has aliases; the
    root is ``()``), its subcommands as (name, help) with aliases, its positionals' choices, its options."""

    paths: tuple[tuple[str, ...], ...]
    subcommands: tuple[tuple[str, str], ...]
    arguments: tuple[str, ...]
    options: tuple[Option, ...]

    @property
    def value_flags(self) -> tuple[str, ...]:
        return tuple(flag for option in self.options if option.takes_value for flag in option.flags)


def walk(parser: argparse.ArgumentParser) -> list[Command]:
    """Every command level of ``parser``, the root first, then depth-first in registration order."""
    commands: list[Command] = []
    _walk(parser, ((),), commands)
    return commands


def _walk(parser: argparse.ArgumentParser, paths: tuple[tuple[str, ...], ...], out: list[Command]) -> None:
    subcommands: list[tuple[str, str]] = []
    children: list[tuple[argparse.ArgumentParser, list[str]]] = []
    arguments: list[str] = []
    options: list[Option] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: _one_line(choice) for choice in action._choices_actions}
            names_of: dict[int, list[str]] = {}  # a child parser's name, then its aliases
            for name, child in action.choices.items():
                if id(child) not in names_of:
                    names_of[id(child)] = []
                    children.append((child, names_of[id(child)]))
                names_of[id(child)].append(name)
                if _TOKEN.fullmatch(name):
                    subcommands.append((name, helps.get(names_of[id(child)][0], "")))
        elif action.help == argparse.SUPPRESS:
            continue
        elif not action.option_strings:
            arguments.extend(_choices(action))
        else:
            flags = tuple(flag for flag in action.option_strings if _TOKEN.fullmatch(flag))
            if flags:
                options.append(Option(flags, action.nargs != 0, _choices(action), _one_line(action)))
    out.append(Command(paths, tuple(subcommands), tuple(arguments), tuple(options)))
    for child, names in children:
        child_paths = tuple((*path, name) for path, name in itertools.product(paths, names)
                            if _TOKEN.fullmatch(name))
        _walk(child, child_paths, out)


def _choices(action: argparse.Action) -> tuple[str, ...]:
    if action.choices is None or isinstance(action, argparse._SubParsersAction):
        return ()
    return tuple(str(choice) for choice in action.choices if _TOKEN.fullmatch(str(choice)))


def _one_line(action: argparse.Action) -> str:
    """The help text as argparse shows it (``%(default)s`` expanded, ``%%`` as ``%``), on one short line."""
    text = action.help or ""
    if text == argparse.SUPPRESS:
        return ""
    if "%" in text:
        params: dict[str, object] = {k: v for k, v in vars(action).items() if v is not argparse.SUPPRESS}
        params["prog"] = PROG
        if action.choices is not None:
            params["choices"] = ", ".join(str(choice) for choice in action.choices)
        with contextlib.suppress(KeyError, TypeError, ValueError):  # shown as written, then
            text = text % params
    return textwrap.shorten(" ".join(text.split()), _DESCRIPTION_WIDTH, placeholder="...")


def render(parser: argparse.ArgumentParser, shell: str) -> str:
    """The completion script for ``shell`` (one of :data:`SHELLS`)."""
    renderers: dict[str, Callable[[Sequence[Command]], str]] = {
        "bash": render_bash, "zsh": render_zsh, "fish": render_fish}
    return renderers[shell](walk(parser))


# --- bash ------------------------------------------------------------------------------------------------

_BASH_FUNCTION: Final = r"""
_streamlog() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev='' cmdpath='' word opt='' prefix='' i=1
    local cmds args opts valopts choices
    COMPREPLY=()
    _streamlog_spec ''
    while (( i < COMP_CWORD )); do
        word=${COMP_WORDS[i]}
        if [[ $word == -* ]]; then
            if [[ " $valopts " == *" $word "* ]]; then
                i=$((i + 1))  # the option's value, after an '=' bash may have split off
                [[ ${COMP_WORDS[i]} == = ]] && i=$((i + 1))
            fi
        elif [[ " $cmds " == *" $word "* ]]; then
            cmdpath=${cmdpath:+$cmdpath }$word
            _streamlog_spec "$cmdpath"
        fi
        i=$((i + 1))
    done
    (( COMP_CWORD > 1 )) && prev=${COMP_WORDS[COMP_CWORD - 1]}
    if [[ $cur == = && " $valopts " == *" $prev "* ]]; then
        opt=$prev cur=''
    elif [[ $prev == = ]] && (( COMP_CWORD > 2 )) \
            && [[ " $valopts " == *" ${COMP_WORDS[COMP_CWORD - 2]} "* ]]; then
        opt=${COMP_WORDS[COMP_CWORD - 2]}
    elif [[ $cur == --*=* && " $valopts " == *" ${cur%%=*} "* ]]; then
        opt=${cur%%=*} prefix=${cur%%=*}= cur=${cur#*=}
    elif [[ -n $prev && " $valopts " == *" $prev "* ]]; then
        opt=$prev
    fi
    if [[ -n $opt ]]; then
        _streamlog_choices "$cmdpath" "$opt"
        COMPREPLY=($(compgen -W "$choices" -- "$cur"))
        [[ -n $prefix ]] && COMPREPLY=("${COMPREPLY[@]/#/$prefix}")
    elif [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    else
        COMPREPLY=($(compgen -W "$cmds $args" -- "$cur"))
    fi
    return 0
}

complete -o default -F _streamlog streamlog
"""


def render_bash(commands: Sequence[Command]) -> str:
    lines = [
        f"# bash completion for {PROG}, generated by `{PROG} completion bash`.",
        f'# Install: eval "$({PROG} completion bash)" in ~/.bashrc, or save the output as',
        f"# ~/.local/share/bash-completion/completions/{PROG}.  No match: the shell's file completion.",
        "",
        "_streamlog_spec() {  # sets cmds, args, opts and valopts (the caller's locals) for the path $1",
        '    case "$1" in',
    ]
    for command in commands:
        values = {
            "cmds": [name for name, _ in command.subcommands],
            "args": list(command.arguments),
            "opts": [flag for option in command.options for flag in option.flags],
            "valopts": list(command.value_flags),
        }
        assignments = " ".join(f"{name}={_sh_quote(' '.join(words))}" for name, words in values.items())
        lines.append(f"        {_patterns(command.paths, '')}) {assignments} ;;")
    lines += ["        *) cmds='' args='' opts='' valopts='' ;;", "    esac", "}", "",
              "_streamlog_choices() {  # sets choices (the caller's local) for the option $2 of the path $1",
              '    case "$1|$2" in']
    for command, option in _options_with_choices(commands):
        patterns = "|".join(_patterns(command.paths, f"|{flag}") for flag in option.flags)
        lines.append(f"        {patterns}) choices={_sh_quote(' '.join(option.choices))} ;;")
    lines += ["        *) choices='' ;;", "    esac", "}"]
    return "\n".join(lines) + "\n" + _BASH_FUNCTION


def _patterns(paths: Iterable[tuple[str, ...]], suffix: str) -> str:
    """``case`` patterns (bash, zsh) matching any spelling of a command path, quoted."""
    return "|".join(_sh_quote(" ".join(path) + suffix) for path in paths)


def _sh_quote(text: str) -> str:
    """Single-quoted for bash and zsh."""
    return "'" + text.replace("'", "'\\''") + "'"


def _options_with_choices(commands: Sequence[Command]) -> list[tuple[Command, Option]]:
    return [(command, option) for command in commands for option in command.options
            if option.takes_value and option.choices]


# --- zsh -------------------------------------------------------------------------------------------------

_ZSH_FUNCTION: Final = r"""
_streamlog() {
    local cur=${words[CURRENT]} prev=${words[CURRENT-1]} cmdpath='' word opt=''
    local -a cmds args opts valopts choices names
    local -i i=2
    _streamlog_spec ''
    while (( i < CURRENT )); do
        word=${words[i]}
        names=(${cmds%%:*})
        if [[ $word == -* ]]; then
            (( ${valopts[(Ie)$word]} )) && i+=1  # the option's value
        elif (( ${names[(Ie)$word]} )); then
            cmdpath=${cmdpath:+$cmdpath }$word
            _streamlog_spec $cmdpath
        fi
        i+=1
    done
    if [[ $cur == --*=* ]] && (( ${valopts[(Ie)${cur%%=*}]} )); then
        opt=${cur%%=*}
        compset -P '*='
    elif (( CURRENT > 2 && ${valopts[(Ie)$prev]} )); then
        opt=$prev
    fi
    if [[ -n $opt ]]; then
        _streamlog_choices $cmdpath $opt
        if (( $#choices )); then compadd -- $choices; else _files; fi
    elif [[ $cur == -* ]]; then
        _describe -t options option opts
    elif (( $#cmds + $#args )); then
        local -i ret=1  # 0 when either added a match: zsh then tries no further completer
        (( $#cmds )) && _describe -t commands command cmds && ret=0
        (( $#args )) && compadd -- $args && ret=0
        return ret
    else
        _files
    fi
}

if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
    _streamlog "$@"  # autoloaded from fpath: this file is the function's body on its first call
else
    compdef _streamlog streamlog  # sourced, e.g. eval "$(streamlog completion zsh)" after compinit
fi
"""


def render_zsh(commands: Sequence[Command]) -> str:
    lines = [
        f"#compdef {PROG}",
        f"# zsh completion for {PROG}, generated by `{PROG} completion zsh`.",
        f"# Install: {PROG} completion zsh > ~/.zfunc/_{PROG}, with fpath=(~/.zfunc $fpath) before",
        f'# compinit in ~/.zshrc; or eval "$({PROG} completion zsh)" after compinit.',
        "",
        "_streamlog_spec() {  # sets cmds, args, opts (name:help) and valopts (the caller's locals) for $1",
        '    case "$1" in',
    ]
    for command in commands:
        values = {
            "cmds": [f"{name}:{text}" for name, text in command.subcommands],
            "args": list(command.arguments),
            "opts": [f"{flag}:{option.help}" for option in command.options for flag in option.flags],
            "valopts": list(command.value_flags),
        }
        assignments = " ".join(f"{name}=({' '.join(map(_sh_quote, words))})"
                               for name, words in values.items())
        lines.append(f"        ({_patterns(command.paths, '')}) {assignments} ;;")
    lines += ["        (*) cmds=() args=() opts=() valopts=() ;;", "    esac", "}", "",
              "_streamlog_choices() {  # sets choices (the caller's local) for the option $2 of the path $1",
              '    case "$1|$2" in']
    for command, option in _options_with_choices(commands):
        patterns = "|".join(_patterns(command.paths, f"|{flag}") for flag in option.flags)
        lines.append(f"        ({patterns}) choices=({' '.join(option.choices)}) ;;")
    lines += ["        (*) choices=() ;;", "    esac", "}"]
    return "\n".join(lines) + "\n" + _ZSH_FUNCTION


# --- fish ------------------------------------------------------------------------------------------------

_FISH_FUNCTIONS: Final = r"""
function __streamlog_path --description 'the streamlog command path typed before the cursor'
    set -l cmdpath ''
    set -l skip 0
    set -l tokens (commandline -opc)
    for word in $tokens[2..-1]
        if test $skip = 1
            set skip 0
        else if string match -q -- '-*' $word
            contains -- $word (__streamlog_spec "$cmdpath" valopts); and set skip 1
        else if contains -- $word (__streamlog_spec "$cmdpath" cmds)
            set cmdpath (string trim -- "$cmdpath $word")
        end
    end
    echo $cmdpath
end

function __streamlog_at --description 'whether the command path typed is one of the arguments'
    set -l cmdpath (__streamlog_path)
    contains -- "$cmdpath" $argv
end
"""


def render_fish(commands: Sequence[Command]) -> str:
    lines = [
        f"# fish completion for {PROG}, generated by `{PROG} completion fish`.",
        f"# Install: {PROG} completion fish > ~/.config/fish/completions/{PROG}.fish",
        "",
        f"complete -c {PROG} -e",
        "",
        "function __streamlog_spec --argument-names cmdpath kind "
        "--description 'subcommands (cmds) or value-taking options (valopts) of a path'",
        '    switch "$cmdpath|$kind"',
    ]
    for command in commands:
        for kind, words in (("cmds", [name for name, _ in command.subcommands]),
                            ("valopts", list(command.value_flags))):
            if words:
                patterns = " ".join(_fish_quote(" ".join(path) + f"|{kind}") for path in command.paths)
                lines += [f"        case {patterns}", f"            printf '%s\\n' {' '.join(words)}"]
    lines += ["    end", "end", _FISH_FUNCTIONS]
    for command in commands:
        spellings_of_path = " ".join(f'"{" ".join(path)}"' for path in command.paths)  # plain tokens
        at = f"-n {_fish_quote('__streamlog_at ' + spellings_of_path)}"
        if command.subcommands or command.arguments:
            lines.append(f"complete -c {PROG} {at} -f")
        for name, text in command.subcommands:
            lines.append(f"complete -c {PROG} {at} -a {name} -d {_fish_quote(text)}")
        if command.arguments:
            lines.append(f"complete -c {PROG} {at} -a {_fish_quote(' '.join(command.arguments))}")
        for option in command.options:
            spellings = " ".join(_fish_flag(flag) for flag in option.flags)
            value = (" -x" if option.choices else " -r") if option.takes_value else ""
            if option.choices:  # a line of its own, first: fish keeps the last line's description
                choices = _fish_quote(" ".join(option.choices))  # and would show it beside each choice
                lines.append(f"complete -c {PROG} {at} {spellings}{value} -a {choices}")
            lines.append(f"complete -c {PROG} {at} {spellings}{value} -d {_fish_quote(option.help)}")
    return "\n".join(lines) + "\n"


def _fish_flag(flag: str) -> str:
    if flag.startswith("--"):
        return f"-l {flag[2:]}"
    return f"-s {flag[1:]}" if len(flag) == 2 else f"-o {flag[1:]}"


def _fish_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


# --- the command -----------------------------------------------------------------------------------------

def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "completion", help="print a shell completion script (bash, zsh or fish)",
        description="Print a script that completes streamlog's commands, subcommands, options and the\n"
                    "options' choices in SHELL.",
        epilog="examples:\n"
               '  eval "$(streamlog completion bash)"             # in ~/.bashrc\n'
               "  streamlog completion zsh > ~/.zfunc/_streamlog  # fpath=(~/.zfunc $fpath) before compinit\n"
               "  streamlog completion fish > ~/.config/fish/completions/streamlog.fish",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("shell", metavar="SHELL", choices=SHELLS, help="bash, zsh or fish")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from streamlog.cli.main import build_parser

    print(render(build_parser(), args.shell), end="")
    return 0
