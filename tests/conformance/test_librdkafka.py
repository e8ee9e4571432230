"""librdkafka's own test suite against Streamlog: the CI subset, and the harness's bookkeeping.

The CI subset (``CI_SUBSET`` in :mod:`tests.support.librdkafka_suite`) runs librdkafka's C test runner,
built from source (npm's ``@confluentinc/kafka-javascript`` ships it; built once into the cache, see
:mod:`tests.support.librdkafka_build`), against a Streamlog started here.  It is skipped, saying why,
when the source cannot be had (no npm, registry unreachable).  The whole suite runs with
``scripts/librdkafka-conformance.sh`` (docs/conformance.md).  The bookkeeping tests (allow-list parsing,
outcome classification) need no build.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.support.librdkafka_build import (
    CACHE_ENV,
    SOURCE_ENV,
    Build,
    SourceUnavailable,
    build,
    provide_source,
    source_version,
)
from tests.support.librdkafka_suite import (
    CI_SUBSET,
    SKIPS_FILE,
    CaseInfo,
    ManagedBrokers,
    Status,
    classify,
    read_allow_list,
    read_tests,
    run_suite,
)

CATEGORIES = ("multi-broker:", "security:", "missing feature:", "streamlog bug:", "test environment:",
              "not a broker test:")


@pytest.fixture(scope="module")
def librdkafka() -> Build:
    try:
        return build(jobs=2)
    except SourceUnavailable as exc:
        pytest.skip(f"librdkafka's source (with its tests/) cannot be had here: {exc}")


@pytest.mark.interop
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_ci_subset_passes_against_streamlog(librdkafka: Build, tmp_path: Path) -> None:
    brokers = ManagedBrokers(tmp_path)
    try:
        summary = run_suite(librdkafka, brokers.bootstrap, CI_SUBSET, jobs=2)
        failures = "\n".join(f"{o.name}: {o.detail}" for o in summary.failures())
        assert summary.failed == 0, f"{summary.line()}\n{failures}\nbroker log: {brokers.log_tail(3000)}"
    finally:
        brokers.stop()
    ran = {o.name[:4] for o in summary.outcomes if o.status is Status.PASSED}
    assert ran == set(CI_SUBSET), f"numbers with no passing test: {sorted(set(CI_SUBSET) - ran)}"
    assert brokers.restarts == 0


def test_allow_list_names_only_real_tests_with_a_reason(librdkafka: Build) -> None:
    tests = read_tests(librdkafka)
    allowed = read_allow_list(SKIPS_FILE, [t.name for t in tests])
    assert allowed, "the allow-list is empty"
    assert all(reason.startswith(CATEGORIES) for reason in allowed.values()), sorted(
        {r for r in allowed.values() if not r.startswith(CATEGORIES)})
    local = {t.name for t in tests if t.local}
    assert not set(allowed) & local, "local tests are never run; they need no allow-list entry"
    in_ci = sorted(name for name in allowed if name[:4] in CI_SUBSET)
    assert not in_ci, f"the CI subset runs only numbers with nothing allow-listed: {in_ci}"


def test_allow_list_refuses_stale_patterns_and_missing_reasons(tmp_path: Path) -> None:
    names = ["0001_multiobj", "0045_subscribe_update", "0045_subscribe_update_mock"]
    good = tmp_path / "good.txt"
    good.write_text("# comment\n0045_*_mock  not a broker test: mock\n"
                    "0001_multiobj  streamlog bug: x  # why\n")
    assert read_allow_list(good, names) == {
        "0045_subscribe_update_mock": "not a broker test: mock",
        "0001_multiobj": "streamlog bug: x",
    }
    stale = tmp_path / "stale.txt"
    stale.write_text("0999_gone  missing feature: removed upstream\n")
    with pytest.raises(ValueError, match="matches no test"):
        read_allow_list(stale, names)
    bare = tmp_path / "bare.txt"
    bare.write_text("0001_multiobj\n")
    with pytest.raises(ValueError, match="has no reason"):
        read_allow_list(bare, names)


def test_classify_separates_failures_from_allowed_and_runner_skips() -> None:
    tests = [CaseInfo(n, local=False, manual=False) for n in
             ("0081_admin", "0082_fetch_max_bytes", "0083_cb_event", "0084_destroy_flags", "0085_headers")]
    states = {"0081_admin": ("FAILED", 3.0), "0082_fetch_max_bytes": ("FAILED", 26.0),
              "0083_cb_event": ("PASSED", 1.5), "0084_destroy_flags": ("SKIPPED", 0.0),
              "0085_headers": ("PASSED", 2.0)}
    stdout = ('### Test "0082_fetch_max_bytes" failed at test.c:1562:check() at now: ###\n'
              "Test 0082_fetch_max_bytes timed out\n")
    allowed = {"0081_admin": "missing feature: ACLs", "0085_headers": "streamlog bug: y"}
    got = {o.name: (o.status, o.detail) for o in classify(tests, states, stdout, allowed)}
    assert got == {
        "0081_admin": (Status.ALLOWED, "missing feature: ACLs"),
        "0082_fetch_max_bytes": (Status.FAILED,
                                 "Test 0082_fetch_max_bytes timed out (test.c:1562:check() at now:)"),
        "0083_cb_event": (Status.PASSED, ""),
        "0084_destroy_flags": (Status.RUNNER_SKIPPED, ""),
        "0085_headers": (Status.ALLOWED_BUT_PASSED, "streamlog bug: y"),
    }
    # a runner that died without a report: tests it did not report passed are failures
    died = classify(tests[:1], {}, "", {})
    assert [(o.status, o.detail) for o in died] == [(Status.FAILED, "runner state NOT REPORTED")]


def test_a_source_tree_without_tests_is_refused_with_a_reason(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "rdkafka.h").write_text("#define RD_KAFKA_VERSION 0x020f01ff\n")
    (tmp_path / "configure").write_text("")
    monkeypatch.setenv(SOURCE_ENV, str(tmp_path))
    with pytest.raises(SourceUnavailable, match="tests/"):
        provide_source()
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test.c").write_text("struct test tests[] = {};\n")
    assert provide_source() == tmp_path.resolve()
    assert source_version(tmp_path) == "2.15.1"


def test_without_npm_the_source_is_unavailable_not_an_error(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SOURCE_ENV, raising=False)
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path / "no-such-bin"))
    with pytest.raises(SourceUnavailable, match="npm not found"):
        provide_source()
