"""The command line: run one target in this process, or every target in turn.

Usage::

    python -m fuzz TARGET [libFuzzer flags] [CORPUS_DIR... | INPUT_FILE...]
    python -m fuzz --all [--seconds N] [--targets a,b] [--work DIR]
    python -m fuzz --replay [--targets a,b]
    python -m fuzz --list

Theory of operation: ``python -m fuzz TARGET`` imports the target module inside atheris's import
hook, restricted to ``streamlog`` (so the decoders report coverage and the harness does not), lets
the target instrument what the hook cannot see (``prepare``), and hands the remaining arguments to
libFuzzer.  Without a corpus directory or input file among them, it fuzzes with the working corpus
``.fuzz-work/TARGET/corpus`` (written by libFuzzer, never committed) followed by the committed seeds
``fuzz/corpus/TARGET`` (only read), and writes findings under ``.fuzz-work/TARGET/artifacts/``;
``fuzz/dicts/TARGET.dict``, where there is one, is passed as the libFuzzer dictionary (magics and
tokens that byte mutations rarely produce).
Given input files, libFuzzer runs each once: that is how a finding is reproduced.  libFuzzer's
argv[0] is a small launcher script in ``.fuzz-work/TARGET/`` that runs ``python -m fuzz TARGET``,
so the modes that start the fuzzer again (``-minimize_crash``, ``-merge``, ``-fork``) work.  Unless given,
``-timeout=10`` and ``-rss_limit_mb=1024`` are added: a decoder that spends ten seconds on one
input, or a gigabyte, has a bug.  ``--all`` is :mod:`fuzz.runner`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from fuzz.targets import TARGETS

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "fuzz" / "corpus"
DICTS = REPO / "fuzz" / "dicts"
WORK = REPO / ".fuzz-work"
DEFAULT_FLAGS = {"-timeout": "10", "-rss_limit_mb": "1024"}


def libfuzzer_args(target: str, args: list[str]) -> list[str]:
    """``args`` completed with the default flags, corpus directories and artifact prefix."""
    out = list(args)
    given = {arg.split("=", 1)[0] for arg in args if arg.startswith("-")}
    for flag, value in DEFAULT_FLAGS.items():
        if flag not in given:
            out.append(f"{flag}={value}")
    dictionary = DICTS / f"{target}.dict"
    if "-dict" not in given and dictionary.exists():
        out.append(f"-dict={dictionary}")
    if "-artifact_prefix" not in given:
        artifacts = WORK / target / "artifacts"
        artifacts.mkdir(parents=True, exist_ok=True)
        out.append(f"-artifact_prefix={artifacts}/")
    if not any(not arg.startswith("-") for arg in args):
        corpus = WORK / target / "corpus"
        corpus.mkdir(parents=True, exist_ok=True)
        out += [str(corpus), str(SEEDS / target)]
    return out


def run_target(target: str, args: list[str]) -> None:
    """Fuzz ``target`` in this process with libFuzzer ``args``; does not return."""
    import atheris  # type: ignore[import-not-found,unused-ignore]

    with atheris.instrument_imports(include=["streamlog"]):
        module = importlib.import_module(f"fuzz.targets.{target}")
    prepare = getattr(module, "prepare", None)
    if prepare is not None:
        prepare(atheris.instrument_func)
    atheris.Setup([str(_launcher(target)), *libfuzzer_args(target, args)], module.test_one_input)
    atheris.Fuzz()


def _launcher(target: str) -> Path:
    """An executable that runs ``python -m fuzz TARGET ARGS``: libFuzzer starts its argv[0] again for
    ``-minimize_crash``, ``-merge``, ``-fork`` and ``-jobs``, and ``__main__.py`` cannot be run so."""
    path = WORK / target / f"run-{target}"
    path.parent.mkdir(parents=True, exist_ok=True)
    script = f'#!/bin/sh\ncd "{REPO}" && exec "{sys.executable}" -m fuzz {target} "$@"\n'
    if not path.exists() or path.read_text() != script:
        path.write_text(script)
        path.chmod(0o755)
    return path


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in TARGETS:
        run_target(argv[0], argv[1:])
        return 0
    parser = argparse.ArgumentParser(prog="python -m fuzz", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--list", action="store_true", help="list the targets")
    parser.add_argument("--all", action="store_true", help="run every target (or --targets) in turn")
    parser.add_argument("--replay", action="store_true",
                        help="run each committed seed through its target once, in-process, without atheris")
    parser.add_argument("--seconds", type=int, default=60, help="seconds per target (default 60)")
    parser.add_argument("--targets", default=",".join(TARGETS), help="comma-separated targets for --all")
    parser.add_argument("--work", type=Path, default=WORK,
                        help=f"working corpora, artifacts and logs (default {WORK})")
    parser.add_argument("--timeout", type=int, default=10, help="libFuzzer -timeout per input (s)")
    parser.add_argument("--rss-mb", type=int, default=1024, help="libFuzzer -rss_limit_mb")
    opts = parser.parse_args(argv)
    if opts.list:
        for name, text in TARGETS.items():
            print(f"{name:12} {text}")
        return 0
    if not opts.all and not opts.replay:
        parser.error(f"name a target ({', '.join(TARGETS)}), or give --all, --replay or --list")
    names = [name.strip() for name in opts.targets.split(",") if name.strip()]
    unknown = [name for name in names if name not in TARGETS]
    if unknown:
        parser.error(f"unknown targets: {', '.join(unknown)}")
    from fuzz.runner import replay_seeds, run_all

    if opts.replay:
        return replay_seeds(names)
    return run_all(names, opts.seconds, opts.work.resolve(), opts.timeout, opts.rss_mb)
