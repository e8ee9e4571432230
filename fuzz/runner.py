"""``python -m fuzz --all``: every target in turn, each in its own subprocess, then a summary.

Theory of operation: each target runs as ``python -m fuzz TARGET -max_total_time=N`` with the
working corpus ``WORK/TARGET/corpus`` first (libFuzzer adds what it finds there), the committed
seeds second, artifacts in ``WORK/TARGET/artifacts/`` and its whole output in ``WORK/TARGET/fuzz.log``.
One target at a time, one process each: one core.  A finding is any of: libFuzzer writing a test
unit (``crash-``, ``timeout-``, ``oom-``, ``slow-unit-``...: the path is printed), a non-zero exit,
or the process outliving its time by a minute (then it is killed).  From the log the summary takes
libFuzzer's final figures: executions, executions per second, coverage (``cov``: edges of
Streamlog's code reached; ``ft``: features), corpus size and peak RSS.  The exit status is 1 if
any target had a finding.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from fuzz.cli import REPO, SEEDS

_STATUS = re.compile(r"^#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)/(\S+)", re.M)
_STAT = re.compile(r"^stat::(\w+):\s+(\d+)", re.M)
_UNIT = re.compile(r"Test unit written to (\S+)")


@dataclass
class Result:
    target: str
    seconds: float
    returncode: int | None
    log: Path
    execs: int = 0
    exec_per_sec: int = 0
    cov: int = 0
    ft: int = 0
    corpus: str = ""
    rss_mb: int = 0
    findings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.findings


def parse_log(result: Result, text: str) -> None:
    statuses = _STATUS.findall(text)
    if statuses:
        execs, cov, ft, units, size = statuses[-1]
        result.execs, result.cov, result.ft, result.corpus = int(execs), int(cov), int(ft), f"{units}/{size}"
    stats = dict(_STAT.findall(text))
    result.execs = int(stats.get("number_of_executed_units", result.execs))
    result.exec_per_sec = int(stats.get("average_exec_per_sec", 0))
    result.rss_mb = int(stats.get("peak_rss_mb", 0))
    result.findings += _UNIT.findall(text)


def run_one(target: str, seconds: int, work: Path, timeout: int, rss_mb: int) -> Result:
    corpus, artifacts = work / target / "corpus", work / target / "artifacts"
    corpus.mkdir(parents=True, exist_ok=True)
    artifacts.mkdir(parents=True, exist_ok=True)
    log = work / target / "fuzz.log"
    before = set(artifacts.iterdir())
    cmd = [sys.executable, "-m", "fuzz", target, f"-max_total_time={seconds}", f"-timeout={timeout}",
           f"-rss_limit_mb={rss_mb}", "-print_final_stats=1", f"-artifact_prefix={artifacts}/",
           str(corpus), str(SEEDS / target)]
    started = time.monotonic()
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            returncode: int | None = proc.wait(timeout=seconds + 60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            returncode = None
    result = Result(target, time.monotonic() - started, returncode, log)
    parse_log(result, log.read_text(errors="replace"))
    result.findings += [str(p) for p in sorted(set(artifacts.iterdir()) - before)
                        if str(p) not in result.findings]
    return result


def _line(r: Result) -> str:
    status = "ok" if r.ok else ("HUNG" if r.returncode is None else "FINDING")
    return (f"{r.target:12} {status:8} {r.seconds:6.0f}s  execs {r.execs:>10,}  exec/s {r.exec_per_sec:>6,}  "
            f"cov {r.cov:>5}  ft {r.ft:>6}  corpus {r.corpus:>12}  rss {r.rss_mb}Mb")


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def run_all(targets: list[str], seconds: int, work: Path, timeout: int, rss_mb: int) -> int:
    results = []
    for target in targets:
        print(f"--- {target}: {seconds}s", flush=True)
        result = run_one(target, seconds, work, timeout, rss_mb)
        results.append(result)
        print(_line(result), flush=True)
        if not result.ok:
            print(f"log: {result.log}\n{_tail(result.log)}", flush=True)
            for path in result.findings:
                print(f"FINDING {target}: reproducer {path}  (replay: python -m fuzz {target} {path})",
                      flush=True)
    print("\nsummary")
    for result in results:
        print(_line(result))
    bad = [r for r in results if not r.ok]
    for r in bad:
        where = ", ".join(r.findings) or f"exit status {r.returncode}, log {r.log}"
        print(f"FINDING in {r.target}: {where}")
    return 1 if bad else 0


def replay(target: str, paths: list[Path]) -> list[tuple[Path, BaseException]]:
    """Run ``target`` once on each file in this process, without atheris; (file, error) of each
    input that ends in a finding."""
    import importlib

    module = importlib.import_module(f"fuzz.targets.{target}")
    failures: list[tuple[Path, BaseException]] = []
    for path in paths:
        try:
            module.test_one_input(path.read_bytes())
        except Exception as exc:  # everything that escapes is a finding
            failures.append((path, exc))
    return failures


def replay_seeds(targets: list[str]) -> int:
    """``--replay``: every committed seed through its target, in this process."""
    bad = 0
    for target in targets:
        paths = sorted((SEEDS / target).iterdir())
        failures = replay(target, paths)
        print(f"{target:12} {len(paths):4} seeds  {len(failures)} findings")
        for path, exc in failures:
            print(f"  FINDING {path}: {type(exc).__name__}: {exc}")
        bad += len(failures)
    return 1 if bad else 0
