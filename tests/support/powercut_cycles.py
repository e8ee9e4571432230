"""The power-cut crash scenario on the pieces of ``powercut.py``: producers on many partitions,
then cycles of crash (SIGKILL + power cut) + restart + verification, on FaultFS.

Theory of operation.  :func:`run_cycles` starts the broker on the FaultFS mount, creates one topic
(small segments, so that segment files and directory entries keep being created) and starts three
producers with acks=all: idempotent, plain, and plain with tiny batches.  Each cycle waits for a
few hundred new acknowledgements and a random moment, then crashes the broker and cuts the power
(keep "none" on odd cycles, "random" with a seeded random seed on even ones), restarts it on the
same port and checks the acknowledgements received since the previous check: each must be readable
at exactly its acknowledged offset, and the offsets read must be dense.  The producers keep going
throughout (librdkafka retries across the restarts), so records acknowledged after a restart land
after the recovered end: a torn tail that recovery did not cut would show as a lost or unreadable
record.  At the end the producers drain, a last crash follows, and every acknowledgement ever
received is checked again (a cut can only lose; data lost in a later cycle shows here).

Other clients join a run as :class:`Workload` objects (``workloads=``; ``powercut_txn.TxnWorkload``:
transactions and group commits): started once the topic exists, quiesced after each restart (the
operation in hand finishes, no new one starts), checked, and resumed; their problems count as
losses.

:data:`VARIANTS` names the two durability paths: ``file`` (``streamlog.fsync.scope=file``: one
fdatasync per partition) and ``syncfs`` (flush rounds through the syncfs interposer).
:func:`run_variant` and :func:`assert_nothing_lost` are what ``tests/crash/test_power_cut*.py``
call.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tests.support.faultfs import FaultFS
from tests.support.powercut import Ack, AckingProducer, AckLog, BrokerOnFaultFS, create_topic


class Workload(Protocol):
    """More clients in a power-cut run; see the module docstring."""

    name: str

    def start(self, bootstrap: str, in_topic: str, in_partitions: int) -> None: ...

    def before_cut(self, rng: random.Random) -> None: ...

    def quiesce(self) -> None: ...

    def check(self, bootstrap: str) -> list[str]: ...

    def resume(self) -> None: ...

    def summary(self) -> str: ...

    def finish(self) -> None: ...


@dataclass
class CycleReport:
    """What :func:`run_cycles` did and found."""

    seed: int = 0
    cycles: int = 0
    acks: int = 0
    checked: int = 0
    lost: dict[Ack, bytes | None] = field(default_factory=dict)  # each lost ack once: what is stored there
    holes: int = 0
    first_loss_cycle: int | None = None
    cuts: list[dict[str, Any]] = field(default_factory=list)
    delivery_errors: list[str] = field(default_factory=list)
    undelivered: int = 0
    fs_counters: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    details: list[str] = field(default_factory=list)
    workload_problems: list[str] = field(default_factory=list)  # "cycle N, workload: problem"
    workload_summaries: list[str] = field(default_factory=list)

    def summary(self) -> str:
        pages_lost = sum(c.get("pages_lost", 0) for c in self.cuts)
        pages_kept = sum(c.get("pages_kept", 0) for c in self.cuts)
        return (f"seed {self.seed}, {self.cycles} cycles in {self.seconds:.1f}s: {self.acks} acks, "
                f"{self.checked} checks, "
                f"{len(self.lost)} acknowledged records lost (first in cycle {self.first_loss_cycle}), "
                f"{self.holes} holes, {len(self.delivery_errors)} delivery errors, {self.undelivered} "
                f"undelivered; unsynced pages lost at the cuts {pages_lost}, written back {pages_kept}; "
                f"fs {self.fs_counters}"
                + "".join(f"; {w}" for w in self.workload_summaries)
                + (f"; {len(self.workload_problems)} workload problems" if self.workload_problems else ""))


PRODUCERS: Mapping[str, Mapping[str, Any]] = {
    "idempotent": {"enable.idempotence": True},
    "plain": {"enable.idempotence": False},
    "small-batches": {"enable.idempotence": False, "linger.ms": 0, "batch.num.messages": 5},
}


def run_cycles(fs: FaultFS, *, cycles: int, syncfs: bool, settings: Mapping[str, str] | None = None,
               topic_config: Mapping[str, str] | None = None, partitions: int = 12, seed: int = 1,
               stop_at_first_loss: bool = False, min_acks_per_cycle: int = 200, rate: float = 150.0,
               log_path: str | os.PathLike[str] | None = None,
               env: Mapping[str, str] | None = None, workloads: Sequence[Workload] = ()) -> CycleReport:
    """Produce; ``cycles`` times crash (keep "none" and "random" in turn) + restart + verify the
    acknowledgements received since the previous check; then a last crash and a check of all."""
    topic = "powercut"
    rng = random.Random(seed)
    report = CycleReport(seed=seed)
    acks = AckLog()
    started = time.monotonic()
    with BrokerOnFaultFS(fs, syncfs=syncfs, settings=settings, log_path=log_path, env=env) as broker:
        create_topic(broker.bootstrap, topic, partitions, topic_config)
        producers = [AckingProducer(name, broker.bootstrap, topic, partitions, acks, config, rate=rate)
                     for name, config in PRODUCERS.items()]
        for producer in producers:
            producer.start()
        for workload in workloads:
            workload.start(broker.bootstrap, topic, partitions)
        try:
            checked = 0
            for cycle in range(1, cycles + 1):
                before = len(acks)
                if not acks.wait_for(before + min_acks_per_cycle, 60):
                    raise AssertionError(f"cycle {cycle}: producing stalled at {len(acks)} acks; "
                                         f"errors {acks.errors[:3]}")
                for workload in workloads:
                    workload.before_cut(rng)
                time.sleep(rng.uniform(0.0, 0.8))  # the cut lands at a random moment
                keep = "none" if cycle % 2 else "random"
                report.cuts.append(broker.crash(keep=keep, seed=rng.randrange(1 << 30)) | {"keep": keep})
                broker.restart()
                report.cycles = cycle
                time.sleep(0.3)  # deliveries decided before the crash reach the log
                batch = acks.since(checked)
                checked += len(batch)
                _check(broker, topic, batch, cycle, report)
                _check_workloads(broker, workloads, cycle, report)
                if (report.lost or report.workload_problems) and stop_at_first_loss:
                    break
            for producer in producers:
                report.undelivered += producer.finish(5 if report.lost and stop_at_first_loss else 60)
            for workload in workloads:
                workload.quiesce()
            report.cuts.append(broker.crash(keep="random", seed=rng.randrange(1 << 30)) | {"keep": "random"})
            broker.restart()
            everything = acks.since(0)
            report.acks = len(everything)
            _check(broker, topic, everything, report.cycles + 1, report)
            _check_workloads(broker, workloads, report.cycles + 1, report, resume=False)
            report.delivery_errors = list(acks.errors)
        finally:
            for producer in producers:
                producer.finish(0)  # after a failure: stop them (no-op when finished above)
            for workload in workloads:
                workload.finish()
                report.workload_summaries.append(f"{workload.name}: {workload.summary()}")
    report.fs_counters = {k: v for k, v in fs.stats()["counters"].items() if not k.startswith("bytes_")}
    report.seconds = time.monotonic() - started
    return report


def _check(broker: BrokerOnFaultFS, topic: str, acks: list[Ack], cycle: int, report: CycleReport) -> None:
    verdict = broker.verify(topic, acks)
    report.checked += verdict.checked
    report.holes += len(verdict.holes)
    if verdict.lost or verdict.holes:
        report.lost.update(verdict.lost)
        report.details.append(f"cycle {cycle}: {verdict.describe()}")
        if report.first_loss_cycle is None:
            report.first_loss_cycle = cycle


def _check_workloads(broker: BrokerOnFaultFS, workloads: Sequence[Workload], cycle: int, report: CycleReport,
                     *, resume: bool = True) -> None:
    for workload in workloads:
        workload.quiesce()
    for workload in workloads:
        found = workload.check(broker.bootstrap)
        report.workload_problems += [f"cycle {cycle}, {workload.name}: {p}" for p in found]
        if found and report.first_loss_cycle is None:
            report.first_loss_cycle = cycle
    for workload in workloads if resume else ():
        workload.resume()


# ------------------------------------------------------------------------------ the test scenarios
VARIANTS: Mapping[str, tuple[bool, Mapping[str, str]]] = {
    "file": (False, {"streamlog.fsync.scope": "file"}),  # one fdatasync per partition file
    "syncfs": (True, {}),  # flush rounds of several partitions: one syncfs through the interposer
}
TOPIC_CONFIG: Mapping[str, str] = {"segment.bytes": "16384"}  # many segment rolls: new files, dir fsyncs
LONG_CYCLES_ENV = "STREAMLOG_POWER_CUT_LONG_CYCLES"
LONG_CYCLES_FULL = 50  # what a storage change must pass before its issue closes
LONG_CYCLES_CI = 20  # under CI (CI set), to keep the whole suite under 30 minutes on 2 cores


def long_cycles() -> int:
    """Cycles of the long power-cut runs: $STREAMLOG_POWER_CUT_LONG_CYCLES, else 20 under CI, else 50."""
    configured = os.environ.get(LONG_CYCLES_ENV)
    if configured:
        return int(configured)
    return LONG_CYCLES_CI if os.environ.get("CI") else LONG_CYCLES_FULL


SEED_ENV = "STREAMLOG_POWER_CUT_SEED"  # the random choices of a run (printed in its summary)
DURABILITY_OFF: Mapping[str, str] = {"log.flush.interval.messages": "1000000"}  # acks before fsync


def run_variant(tmp_path: Path, variant: str, cycles: int, *, settings: Mapping[str, str] | None = None,
                topic_config: Mapping[str, str] | None = None, **kwargs: Any) -> CycleReport:
    """:func:`run_cycles` on a fresh FaultFS under ``tmp_path``, the broker configured for
    ``variant`` ("file" or "syncfs") plus ``settings``; prints and returns the report."""
    syncfs, variant_settings = VARIANTS[variant]
    kwargs.setdefault("seed", int(os.environ.get(SEED_ENV) or random.randrange(1 << 30)))
    with FaultFS(tmp_path / "faultfs") as fs:
        report = run_cycles(fs, cycles=cycles, syncfs=syncfs,
                            settings={**variant_settings, **(settings or {})},
                            topic_config={**TOPIC_CONFIG, **(topic_config or {})},
                            log_path=tmp_path / "broker.log", **kwargs)
    print(f"power cuts, {variant}: {report.summary()}")
    return report


def assert_nothing_lost(report: CycleReport, variant: str, cycles: int) -> None:
    """Every cycle ran, every acknowledgement was found where it was acknowledged, and the variant's
    durability path was the one exercised."""
    assert report.cycles == cycles
    assert not report.lost and not report.holes, "\n".join(report.details)
    assert not report.workload_problems, "\n".join(report.workload_problems[:20])
    assert not report.delivery_errors, report.delivery_errors[:5]
    assert report.undelivered == 0
    assert report.acks >= cycles * 200, "the producers kept producing across the restarts"
    syncfs_calls = report.fs_counters.get("syncfs", 0)
    if variant == "syncfs":
        assert syncfs_calls > cycles, "flush rounds went through the syncfs interposer"
    else:
        assert syncfs_calls == 0, "no flush rounds without the interposer"
    assert report.fs_counters.get("fdatasyncs", 0) > 0
