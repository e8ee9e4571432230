"""librdkafka's own test suite run against Streamlog, with a committed allow-list.

Theory of operation:

* **The tests.**  librdkafka's ``tests/test.c`` declares every test in one table (``_TEST(NAME, FLAGS,
  ...)``); NAME starts with a four-digit number, and several tests can share one number
  (``0045_subscribe_update``, ``0045_subscribe_update_mock``, ...).  The runner selects by number only
  (``TESTS=0045`` runs every test of that number).  Tests flagged ``TEST_F_LOCAL`` need no broker (unit
  tests, librdkafka's in-process mock cluster) and are not run here (``-L``); ``TEST_F_MANUAL`` ones
  run only when asked for by name.  The runner itself skips tests that do not apply to the broker version
  (``TEST_KAFKA_VERSION``, :data:`KAFKA_VERSION`, the version Streamlog answers as) and tests with known
  issues.
* **The allow-list** (:data:`SKIPS_FILE`): one line per test not expected to pass, ``PATTERN  REASON``,
  PATTERN an exact name or an ``fnmatch`` glob; ``#`` starts a comment.  A number whose every broker test is
  allow-listed is not run (unless ``--run-allowed``); otherwise the whole number runs and its
  allow-listed tests count as skipped whatever they do (one that passes is reported as a candidate for
  removal).  A pattern that matches no
  test is an error, so the list cannot go stale silently.
* **A run.**  One ``test-runner`` process per number (in its own scratch directory: the runner writes
  ``test_report_*.json`` and stats files into its working directory, which links ``fixtures`` and
  ``../src`` as some tests open them relative to ``tests/``), ``jobs`` at a time, each under an
  outer timeout.  Outcomes come from the runner's JSON report (``-r``); a runner that died before writing
  it (a test's watchdog aborts the process) is read from its stdout's ``Test NAME PASSED`` lines, and
  every other test it ran is a failure.  The broker is Streamlog, started here with the settings of
  the test's scenario (:data:`SCENARIOS`: librdkafka's ``default``, auto-created topics with 4
  partitions, and ``noautocreate``; one broker each), or an external one (``--bootstrap``); if it dies
  during a number, that is a failure and a fresh one serves the rest.
  Tests that shell out to Kafka's ``kafka-topics.sh`` (``KAFKA_PATH``) get a stand-in that runs
  ``streamlog topics`` (:data:`KAFKA_PATH`).
* **Verdict.**  passed / failed / skipped counts (skipped = allow-listed + skipped by the runner); the exit
  status is 1 when a test that is not allow-listed failed.

Command line: ``python -m tests.support.librdkafka_suite [--quick] [--ci] [--jobs N] [--source DIR]
[--bootstrap HOST:PORT] [NUMBERS...]`` (``scripts/librdkafka-conformance.sh`` wraps it).
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Final

from tests.support.brokerproc import BrokerProcess
from tests.support.librdkafka_build import Build, BuildFailed, SourceUnavailable, build

REPO: Final = Path(__file__).resolve().parents[2]
SKIPS_FILE: Final = REPO / "tests" / "conformance" / "librdkafka-skips.txt"
KAFKA_PATH: Final = REPO / "tests" / "conformance" / "kafka"  # bin/kafka-topics.sh over `streamlog topics`
KAFKA_VERSION: Final = "4.1.0"
# librdkafka's default test scenario (tests/scenarios/default.json): auto-created topics, 4 partitions
# librdkafka's test scenarios (tests/scenarios/*.json) as broker settings: "default" for every test that
# names none, "noautocreate" for the tests about topics that do not exist yet
SCENARIOS: Final = {
    "default": {"num.partitions": "4", "auto.create.topics.enable": "true"},
    "noautocreate": {"num.partitions": "4", "auto.create.topics.enable": "false"},
}
NUMBER_TIMEOUT_S: Final = 900.0
# The CI subset: numbers of a few seconds each (about 45 s together, one at a time) covering produce
# (acks, ordering, batches and per-record errors, sizes, null values, headers, compression, idempotence),
# consume (batches, assign at offsets, offset reset, partial fetches, offsets by time), committed offsets
# and metadata (ApiVersions, cluster id, invalid and unknown topics)
CI_SUBSET: Final = (
    "0001", "0002", "0003", "0005", "0007", "0008", "0011", "0012", "0013", "0017", "0022", "0029",
    "0031", "0034", "0035", "0036", "0054", "0057", "0063", "0073", "0082", "0085", "0090", "0099", "0130",
)
TEST_ENTRY: Final = re.compile(r"_TEST\(\s*(\d{4}_\w+)\s*,\s*([^,)]*)([^_]*(?:_(?!TEST\()[^_]*)*)")
SCENARIO_FIELD: Final = re.compile(r'\.scenario\s*=\s*"([^"]*)"')
PASSED_LINE: Final = re.compile(r"Test (\d{4}_\w+) PASSED")
FAILED_AT: Final = re.compile(r'### Test "(\d{4}_\w+)[^"]*" failed at ([^\n]*)###\n([^\n]*)')
ANSI: Final = re.compile(r"\x1b(\[[0-9;]*m|\(B)")


class Status(Enum):
    PASSED = "passed"
    FAILED = "failed"
    ALLOWED = "skipped (allow-list)"  # allow-listed: not run, or ran and failed
    ALLOWED_BUT_PASSED = "passed (allow-listed: remove from the list?)"
    RUNNER_SKIPPED = "skipped (by librdkafka's runner)"


@dataclass(frozen=True, slots=True)
class CaseInfo:
    name: str
    local: bool
    manual: bool
    scenario: str = "default"  # the scenario of SCENARIOS it runs in (the first it accepts)

    @property
    def number(self) -> str:
        return self.name[:4]


@dataclass(frozen=True, slots=True)
class Outcome:
    name: str
    status: Status
    detail: str = ""
    seconds: float = 0.0  # the runner's duration for the test (0 when not run)


@dataclass(slots=True)
class Summary:
    outcomes: list[Outcome] = field(default_factory=list)

    def count(self, *statuses: Status) -> int:
        return sum(1 for o in self.outcomes if o.status in statuses)

    @property
    def passed(self) -> int:
        return self.count(Status.PASSED, Status.ALLOWED_BUT_PASSED)

    @property
    def failed(self) -> int:
        return self.count(Status.FAILED)

    @property
    def skipped(self) -> int:
        return self.count(Status.ALLOWED, Status.RUNNER_SKIPPED)

    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status is Status.FAILED]

    def line(self) -> str:
        return f"{self.passed} passed, {self.failed} failed, {self.skipped} skipped"


def read_tests(build_: Build) -> list[CaseInfo]:
    """The test table of test.c: every test's name, whether it is local or manual, its scenario."""
    text = build_.test_table.read_text(errors="replace")
    table = text[text.index("struct test tests[]"):]
    tests = []
    for name, flags, rest in TEST_ENTRY.findall(table):
        field_ = SCENARIO_FIELD.search(rest)
        accepted = field_.group(1).split(",") if field_ else ["default"]
        scenario = next((s for s in accepted if s in SCENARIOS), accepted[0])
        tests.append(CaseInfo(name, "TEST_F_LOCAL" in flags, "TEST_F_MANUAL" in flags, scenario))
    return tests


def read_allow_list(path: Path, names: Iterable[str]) -> dict[str, str]:
    """Each test name the allow-list covers, with its reason; ValueError for a pattern matching nothing."""
    known = list(names)
    allowed: dict[str, str] = {}
    for lineno, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        pattern, _, reason = line.partition(" ")
        if not reason.strip():
            raise ValueError(f"{path}:{lineno}: {pattern} has no reason")
        hits = fnmatch.filter(known, pattern)
        if not hits:
            raise ValueError(f"{path}:{lineno}: {pattern} matches no test of this librdkafka")
        for name in hits:
            allowed.setdefault(name, reason.strip())
    return allowed


def _failure_details(stdout: str) -> dict[str, str]:
    details: dict[str, str] = {}
    for name, where, message in FAILED_AT.findall(stdout):
        details.setdefault(name, f"{message.strip()} ({where.strip()})")
    return details


def run_number(
    build_: Build, number: str, bootstrap: str, *, quick: bool, scratch: Path, scenario: str = "default"
) -> tuple[dict[str, tuple[str, float]], str]:
    """Run one test number; returns ({test name: (runner state, seconds)}, stdout with colours stripped)."""
    work = scratch / (number if scenario == "default" else f"{number}-{scenario}")
    work.mkdir(parents=True, exist_ok=True)
    for stale in work.glob("test_report_*.json"):  # a --logs directory used before
        stale.unlink()
    # tests open files relative to tests/ (./fixtures/..., ../src/statistics_schema.json)
    links = ((work / "fixtures", build_.tests_dir / "fixtures"), (scratch / "src", build_.root / "src"))
    for link, target in links:
        with contextlib.suppress(FileExistsError):
            link.symlink_to(target)
    conf = work / "test.conf"
    conf.write_text(f"bootstrap.servers={bootstrap}\n")
    env = dict(os.environ)
    env.update(
        RDKAFKA_TEST_CONF=str(conf), TEST_KAFKA_VERSION=KAFKA_VERSION, TESTS=number,
        LD_LIBRARY_PATH=build_.library_path(), KAFKA_PATH=str(KAFKA_PATH), BROKERS=bootstrap,
        STREAMLOG_PYTHON=sys.executable, TEST_SCENARIO=scenario,
    )
    env.pop("TESTS_SKIP", None)
    args = [str(build_.runner), "-L", "-r"] + (["-Q"] if quick else [])
    log = work / "stdout.log"
    with log.open("wb") as out:
        try:
            subprocess.run(args, cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT,
                           timeout=NUMBER_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            note = f'\n### Test "{number}" failed at harness: ###\nouter timeout {NUMBER_TIMEOUT_S:.0f}s\n'
            out.write(note.encode())
    stdout = ANSI.sub("", log.read_text(errors="replace"))
    states: dict[str, tuple[str, float]] = {}
    for report in sorted(work.glob("test_report_*.json")):
        tests = json.loads(report.read_text(errors="replace")).get("tests", {})
        states.update({name: (str(info.get("state")), float(info.get("duration") or 0.0))
                       for name, info in tests.items()})
    if not states:  # the runner died before its report: trust only its PASSED lines
        states = {name: ("PASSED", 0.0) for name in PASSED_LINE.findall(stdout)}
    return states, stdout


def classify(
    tests: Sequence[CaseInfo], states: dict[str, tuple[str, float]], stdout: str, allowed: dict[str, str]
) -> list[Outcome]:
    details = _failure_details(stdout)
    outcomes = []
    for test in tests:
        state, seconds = states.get(test.name, ("NOT REPORTED", 0.0))
        reason = allowed.get(test.name)
        if state == "PASSED":
            status = Status.ALLOWED_BUT_PASSED if reason else Status.PASSED
            outcomes.append(Outcome(test.name, status, reason or "", seconds))
        elif reason is not None:
            outcomes.append(Outcome(test.name, Status.ALLOWED, reason, seconds))
        elif state == "SKIPPED":
            outcomes.append(Outcome(test.name, Status.RUNNER_SKIPPED))
        else:
            detail = details.get(test.name) or details.get(test.number) or f"runner state {state}"
            outcomes.append(Outcome(test.name, Status.FAILED, detail, seconds))
    return outcomes


def run_suite(
    build_: Build,
    bootstrap: Callable[[str], str],
    numbers: Sequence[str] | None = None,
    *,
    quick: bool = False,
    jobs: int = 1,
    skips_file: Path = SKIPS_FILE,
    progress: Callable[[Outcome], None] | None = None,
    logs: Path | None = None,
    run_allowed: bool = False,
) -> Summary:
    """Run the chosen numbers (default: all) against the broker ``bootstrap(scenario)`` returns.

    ``logs``: keep each number's runner output there (``NNNN/stdout.log``); default a temporary directory.
    ``run_allowed``: run numbers whose tests are all allow-listed too (to see which may leave the list)."""
    tests = [t for t in read_tests(build_) if not t.local]
    allowed = read_allow_list(skips_file, [t.name for t in read_tests(build_)])
    chosen = sorted({t.number for t in tests if not t.manual} if not numbers else set(numbers))
    unknown = sorted(set(chosen) - {t.number for t in tests})
    if unknown:
        raise ValueError(f"no broker test with number {', '.join(unknown)} in librdkafka {build_.version}")
    summary = Summary()
    lock = threading.Lock()

    def record(outcomes: Iterable[Outcome]) -> None:
        with lock:
            for outcome in outcomes:
                summary.outcomes.append(outcome)
                if progress is not None:
                    progress(outcome)

    def one(number: str, scratch: Path) -> None:
        by_scenario: dict[str, list[CaseInfo]] = {}
        for test in tests:
            if test.number == number:
                by_scenario.setdefault(test.scenario, []).append(test)
        for scenario, members in by_scenario.items():
            if (all(t.name in allowed for t in members) and not run_allowed) or scenario not in SCENARIOS:
                record(Outcome(t.name, Status.ALLOWED, allowed[t.name]) if t.name in allowed
                       else Outcome(t.name, Status.RUNNER_SKIPPED, f"scenario {scenario}") for t in members)
                continue
            states, stdout = run_number(build_, number, bootstrap(scenario), quick=quick, scratch=scratch,
                                        scenario=scenario)
            record(classify(members, states, stdout, allowed))

    with tempfile.TemporaryDirectory(prefix="librdkafka-run-") as tmp, ThreadPoolExecutor(jobs) as pool:
        scratch = logs or Path(tmp)
        for future in [pool.submit(one, number, scratch) for number in chosen]:
            future.result()
    summary.outcomes.sort(key=lambda o: o.name)
    return summary


class ManagedBrokers:
    """One Streamlog per scenario, started on first use, restarted (same data dir) if it has died."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.procs: dict[str, BrokerProcess] = {}
        self.lock = threading.Lock()
        self.restarts = 0

    def bootstrap(self, scenario: str) -> str:
        with self.lock:
            proc = self.procs.get(scenario)
            if proc is None:
                where = self.base / scenario
                proc = self.procs[scenario] = BrokerProcess(
                    data_dir=where / "data", log_path=self.base / f"broker-{scenario}.log",
                    settings=SCENARIOS[scenario])
            if not proc.running():
                if proc.port is not None:
                    self.restarts += 1
                    print(f"[librdkafka] broker died (log {proc.log_path}); restarting", file=sys.stderr)
                proc.start()
            return proc.bootstrap

    def log_tail(self, chars: int) -> str:
        return "\n".join(f"--- {name}: {proc.log_path}\n{proc.log_text()[-chars:]}"
                         for name, proc in self.procs.items())

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.stop()


def _print_outcome(outcome: Outcome) -> None:
    mark = {Status.PASSED: "PASS", Status.FAILED: "FAIL", Status.ALLOWED_BUT_PASSED: "PASS*"}.get(
        outcome.status, "SKIP")
    detail = f"  ({outcome.detail})" if outcome.detail else ""
    took = f" {outcome.seconds:.1f}s" if outcome.seconds else ""
    print(f"{mark:5} {outcome.name}{took}{detail}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="librdkafka-conformance", description=__doc__.split("\n\n")[0])
    parser.add_argument("numbers", nargs="*", metavar="NNNN", help="test numbers to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="librdkafka's quick mode (-Q): less data")
    parser.add_argument("--ci", action="store_true", help="run the CI subset (CI_SUBSET)")
    parser.add_argument("--jobs", type=int, default=1, help="test numbers run at once (default 1)")
    parser.add_argument("--source", type=Path,
                        help="librdkafka source tree (default: LIBRDKAFKA_SRC, else from npm)")
    parser.add_argument("--bootstrap", help="an external broker's HOST:PORT instead of starting Streamlog")
    parser.add_argument("--run-allowed", action="store_true",
                        help="run allow-listed tests too (they still count as skipped unless they pass)")
    parser.add_argument("--logs", type=Path, help="keep the runner's output in DIR/NNNN/ (default: not kept)")
    args = parser.parse_args(argv)
    try:
        built = build(args.source, say=lambda line: print(f"[librdkafka] {line}", flush=True))
    except (SourceUnavailable, BuildFailed) as exc:
        print(f"[librdkafka] cannot build librdkafka's tests: {exc}", file=sys.stderr)
        return 2
    numbers = list(CI_SUBSET) if args.ci else args.numbers
    print(f"[librdkafka] librdkafka {built.version} at {built.root}; broker version {KAFKA_VERSION}",
          flush=True)
    with tempfile.TemporaryDirectory(prefix="librdkafka-broker-") as base:
        brokers = ManagedBrokers(Path(base))
        external: str = args.bootstrap or ""
        try:
            summary = run_suite(built, (lambda _s: external) if external else brokers.bootstrap, numbers,
                                quick=args.quick, jobs=args.jobs, progress=_print_outcome,
                                logs=args.logs, run_allowed=args.run_allowed)
        finally:
            brokers.stop()
    allowed_passed = summary.count(Status.ALLOWED_BUT_PASSED)
    print(f"[librdkafka] allow-listed {summary.count(Status.ALLOWED)}, skipped by the runner "
          f"{summary.count(Status.RUNNER_SKIPPED)}, allow-listed but passed {allowed_passed}, "
          f"broker restarts {brokers.restarts}")
    for failure in summary.failures():
        print(f"[librdkafka] FAILED {failure.name}: {failure.detail}")
    print(f"librdkafka: {summary.line()}")
    return 1 if summary.failed else 0


if __name__ == "__main__":
    sys.exit(main())
