"""Transactions and consumer-group commits for the power-cut scenario (``powercut_cycles.py``):
clients that record what the broker acknowledged, and the checks of it after a power cut.

Theory of operation.  :class:`TxnWorkload` adds two client threads to a power-cut run, both reading
the run's (non-transactional) input topic with manually assigned partitions (no rebalances, so a
consumer's position only moves forward and so do the offsets it commits):

* :class:`TxnProducer`: a confluent-kafka transactional producer (``transaction.timeout.ms`` 5 s)
  running transactions back to back.  Each writes a few records to several partitions of its own
  topic, consumes a little of the input topic and stages the consumer's positions with
  ``send_offsets_to_transaction`` for group ``powercut-eos``, then commits or aborts as a seeded
  random decides.  A transaction's outcome is what ``commit_transaction()``/``abort_transaction()``
  returned: "committed" or "aborted" once one of them returned; when an abortable error came first,
  ``abort_transaction()`` is called and, once it returns, the outcome is "aborted".  A fatal error
  (the producer fenced, or the transaction timed out and the epoch moved on) makes the outcome
  "unknown" and the producer is replaced by one with a new transactional id.  The delivery
  reports give each record's offset.  Before some cuts (``before_cut``, every second one) the
  producer "crashes" mid-transaction: the next transaction is left open ("abandoned", its records
  acknowledged) and a producer with a new transactional id carries on, so only the coordinator's
  timeout can end it, and it must end aborted.
* :class:`GroupCommitter`: a plain consumer of group ``powercut-commits`` that commits its
  positions with ``commit(asynchronous=False)`` every 100 ms and records each commit that returned.

:meth:`TxnWorkload.check` runs with both threads quiesced (each finishes the transaction or commit
in hand first) and returns the problems found: the last stable offset must reach the high watermark
on every partition (a transaction open at the cut is aborted by its timeout, a prepared one is
completed at start); read with ``isolation.level=read_committed``, every record of a committed
transaction is at its acknowledged offset, no record of an aborted or abandoned transaction is
visible, an unknown one is all or nothing, and nothing else is there; OffsetFetch returns, for
every partition, at least the offset of the last acknowledged commit of each group, and for
``powercut-eos`` an offset that some committed or unknown transaction staged (never one that only
aborted or abandoned ones staged).
"""

from __future__ import annotations

import contextlib
import os
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeVar

from confluent_kafka import OFFSET_STORED, Consumer, KafkaError, KafkaException, Producer, TopicPartition
from tests.support.kafka_wire import WireClient
from tests.support.powercut import PRODUCER_DEFAULTS, create_topic, read_partitions
from tests.support.powercut_cycles import SEED_ENV, assert_nothing_lost, run_variant

TXN_TOPIC: Final = "powercut-txn"
TXN_GROUP: Final = "powercut-eos"
PLAIN_GROUP: Final = "powercut-commits"
TXN_TIMEOUT_MS: Final = 5000
CALL_TIMEOUT_S: Final = 10.0
CLIENT_DEFAULTS: Mapping[str, Any] = {
    **{key: PRODUCER_DEFAULTS[key] for key in ("reconnect.backoff.ms", "reconnect.backoff.max.ms",
                                               "socket.connection.setup.timeout.ms", "log_level")},
    # No re-bootstrap when the (only) broker is down: librdkafka would decommission it, and a
    # send_offsets_to_transaction() waiting for the group coordinator then hangs past its timeout
    # (librdkafka issues 5511 and 5456, open).
    "metadata.recovery.strategy": "none",
}
T = TypeVar("T")


@dataclass
class Txn:
    """One transaction as the producer saw it."""

    number: int
    records: dict[bytes, int] = field(default_factory=dict)  # value -> partition
    offsets: dict[bytes, int] = field(default_factory=dict)  # value -> acknowledged offset
    staged: dict[int, int] = field(default_factory=dict)  # input partition -> offset sent to the group
    outcome: str = "open"  # "committed", "aborted", or "unknown" (decided by the broker)

    def on_delivery(self, err: Any, msg: Any) -> None:
        if err is None:
            self.offsets[bytes(msg.value())] = int(msg.offset())


class _Pausable(threading.Thread):
    """A client thread whose ``step`` runs under a lock, so that ``quiesce`` returns once the step
    in hand is over and no new one starts until ``resume``."""

    def __init__(self, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self._busy = threading.Lock()
        self._paused = threading.Event()
        self._stopping = threading.Event()
        self.notes: list[str] = []  # errors the clients reported (expected around a cut)
        self.failure: BaseException | None = None

    def step(self) -> None:
        raise NotImplementedError

    def run(self) -> None:
        try:
            while not self._stopping.is_set():
                with self._busy:
                    if not self._paused.is_set():
                        self.step()
                        continue
                time.sleep(0.02)
        except BaseException as exc:  # reported by quiesce and finish
            self.failure = exc

    def quiesce(self, timeout: float = 120.0) -> None:
        self._paused.set()
        if not self._busy.acquire(timeout=timeout):
            raise AssertionError(f"{self.name} did not finish its step within {timeout:.0f}s; "
                                 f"last errors noted: {self.notes[-5:]}")
        self._busy.release()
        if self.failure is not None:
            raise AssertionError(f"{self.name} failed: {self.failure!r}") from self.failure

    def resume(self) -> None:
        self._paused.clear()

    def stop(self) -> bool:
        """Stop the thread; False if its step is still stuck in a client call (the broker gone
        for good after a failed cut): then its client must not be closed, since librdkafka's
        close waits for that call and would hang the test until pytest-timeout."""
        self._stopping.set()
        self.join(CALL_TIMEOUT_S * 3)
        return not self.is_alive()


def _input_consumer(bootstrap: str, group: str, topic: str, partitions: int) -> Consumer:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                         "auto.offset.reset": "earliest", "fetch.wait.max.ms": 50, **CLIENT_DEFAULTS})
    consumer.assign([TopicPartition(topic, p, OFFSET_STORED) for p in range(partitions)])
    return consumer


class TxnProducer(_Pausable):
    """Transactions back to back; see the module docstring."""

    def __init__(self, bootstrap: str, in_topic: str, in_partitions: int, partitions: int, seed: int,
                 commit_ratio: float = 0.6) -> None:
        super().__init__("txn-producer")
        self.bootstrap = bootstrap
        self.partitions = partitions
        self.rng = random.Random(seed)
        self.commit_ratio = commit_ratio
        self.txns: list[Txn] = []
        self.renewals = 0
        self.abandoned: list[Producer] = []
        self._abandon = threading.Event()
        self._ids = 0
        self.consumer = _input_consumer(bootstrap, TXN_GROUP, in_topic, in_partitions)
        self.producer = self._new_producer()

    def _new_producer(self) -> Producer:
        self._ids += 1
        producer = Producer({"bootstrap.servers": self.bootstrap,
                             "transactional.id": f"powercut-txn-{self._ids}",
                             "transaction.timeout.ms": TXN_TIMEOUT_MS, "linger.ms": 2,
                             "retry.backoff.ms": 50, **CLIENT_DEFAULTS})
        self._retrying(lambda: producer.init_transactions(CALL_TIMEOUT_S), "init_transactions")
        return producer

    def _retrying(self, call: Callable[[], T], what: str, deadline_s: float = 90.0) -> T:
        """``call`` again while it fails with a retriable error (the broker is restarting)."""
        deadline = time.monotonic() + deadline_s
        while True:
            try:
                return call()
            except KafkaException as exc:
                error = exc.args[0]
                if not error.retriable() or time.monotonic() > deadline:
                    raise
                self.notes.append(f"{what}: {error}")
                time.sleep(0.05)

    def abandon_next(self) -> None:
        """Leave the next transaction open and carry on with a producer of another transactional id,
        as if the client had crashed too: only the coordinator's timeout can end that transaction."""
        self._abandon.set()

    def step(self) -> None:
        txn = Txn(len(self.txns))
        self.txns.append(txn)
        commit = self.rng.random() < self.commit_ratio
        try:
            self._fill(txn)
            if self._abandon.is_set():
                self._abandon.clear()
                self._retrying(lambda: self.producer.flush(CALL_TIMEOUT_S), "flush")
                txn.outcome = "abandoned"
                self.abandoned.append(self.producer)  # kept as it is until the end: no abort on close
                self.producer = self._new_producer()
                return
        except KafkaException as exc:
            error = exc.args[0]
            self.notes.append(f"txn {txn.number}: {error}")
            if not error.txn_requires_abort() or error.fatal():
                self._renew(txn)
                return
            commit = False
        self._end(txn, commit)

    def _fill(self, txn: Txn) -> None:
        producer = self.producer
        self._retrying(producer.begin_transaction, "begin_transaction")
        for partition in self.rng.sample(range(self.partitions), self.rng.randint(2, 4)):
            for i in range(self.rng.randint(1, 3)):
                value = f"txn-{txn.number}-{partition}-{i}".encode()
                txn.records[value] = partition
                while True:
                    try:
                        producer.produce(TXN_TOPIC, value=value, partition=partition,
                                         on_delivery=txn.on_delivery)
                        break
                    except BufferError:
                        producer.poll(0.05)
        producer.poll(0)
        self.consumer.consume(100, 0.05)
        positions = self.consumer.position(self.consumer.assignment())
        staged = [tp for tp in positions if tp.offset >= 0]
        if staged:
            metadata = self.consumer.consumer_group_metadata()
            self._retrying(lambda: producer.send_offsets_to_transaction(staged, metadata, CALL_TIMEOUT_S),
                           "send_offsets_to_transaction")
            txn.staged = {tp.partition: tp.offset for tp in staged}

    def _end(self, txn: Txn, commit: bool) -> None:
        """Commit (or abort) until the call returns; an abortable error turns a commit into an abort."""
        while True:
            call = self.producer.commit_transaction if commit else self.producer.abort_transaction
            try:
                self._retrying(lambda call=call: call(CALL_TIMEOUT_S),  # type: ignore[misc]
                               "commit" if commit else "abort")
            except KafkaException as exc:
                error = exc.args[0]
                self.notes.append(f"txn {txn.number} {'commit' if commit else 'abort'}: {error}")
                if commit and error.txn_requires_abort() and not error.fatal():
                    commit = False
                    continue
                self._renew(txn)
                return
            txn.outcome = "committed" if commit else "aborted"
            return

    def _renew(self, txn: Txn) -> None:
        """A fatal error: the transaction's fate is the broker's; a new producer takes over."""
        txn.outcome = "unknown"
        self.renewals += 1
        with contextlib.suppress(KafkaException):
            self.producer.purge()
        self.producer = self._new_producer()

    def stop(self) -> bool:
        if not super().stop():
            return False
        with contextlib.suppress(KafkaException, RuntimeError):
            self.consumer.close()
        self.abandoned.clear()
        return True


class GroupCommitter(_Pausable):
    """A plain group member committing synchronously; ``acked`` holds every commit that returned."""

    def __init__(self, bootstrap: str, in_topic: str, in_partitions: int) -> None:
        super().__init__("group-committer")
        self.consumer = _input_consumer(bootstrap, PLAIN_GROUP, in_topic, in_partitions)
        self.acked: list[dict[int, int]] = []

    def step(self) -> None:
        self.consumer.consume(200, 0.1)
        try:
            result = self.consumer.commit(asynchronous=False)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError._NO_OFFSET:
                self.notes.append(f"commit: {exc.args[0]}")
            return
        done = {tp.partition: tp.offset for tp in result or () if tp.error is None and tp.offset >= 0}
        if done:
            self.acked.append(done)

    def stop(self) -> bool:
        if not super().stop():
            return False
        with contextlib.suppress(KafkaException, RuntimeError):
            self.consumer.close()
        return True


# ------------------------------------------------------------------------------ checks
def list_offsets(bootstrap: str, topic: str, partitions: int, isolation: int) -> dict[int, int]:
    """The latest offset per partition: the high watermark (isolation 0) or the last stable
    offset (1), exactly as the broker answers (ListOffsets v5)."""
    body = {"replica_id": -1, "isolation_level": isolation, "topics": [{"name": topic, "partitions": [
        {"partition_index": p, "current_leader_epoch": -1, "timestamp": -1} for p in range(partitions)]}]}
    with WireClient(bootstrap) as client:
        answer = client.call(2, 5, body)
    out = {}
    for part in answer["topics"][0]["partitions"]:
        if part["error_code"] != 0:
            raise AssertionError(f"ListOffsets {topic}-{part['partition_index']}: error {part['error_code']}")
        out[int(part["partition_index"])] = int(part["offset"])
    return out


def wait_stable(bootstrap: str, topic: str, partitions: int, timeout: float) -> tuple[float, dict[int, int]]:
    """Wait until the last stable offset equals the high watermark everywhere: (seconds taken, the
    partitions still unstable at the timeout as partition -> LSO..HW gap)."""
    started = time.monotonic()
    while True:
        high = list_offsets(bootstrap, topic, partitions, 0)
        stable = list_offsets(bootstrap, topic, partitions, 1)
        gap = {p: high[p] - stable[p] for p in high if stable[p] != high[p]}
        if not gap or time.monotonic() - started > timeout:
            return time.monotonic() - started, gap
        time.sleep(0.2)


def committed_offsets(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    """OffsetFetch for ``group``: partition -> committed offset (-1001 when none)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                         **CLIENT_DEFAULTS})
    try:
        found = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=15)
        return {tp.partition: tp.offset for tp in found}
    finally:
        consumer.close()


@dataclass
class TxnCounts:
    committed: int = 0
    aborted: int = 0
    abandoned: int = 0  # left open with its producer gone: the coordinator's timeout aborts it
    unknown: int = 0
    records: int = 0
    group_commits: int = 0  # acknowledged commits checked (plain commits and committed transactions)
    stable_wait_s: float = 0.0  # the longest wait for LSO == HW


def check_transactions(txns: Iterable[Txn], stored: Mapping[int, Mapping[int, bytes]],
                       counts: TxnCounts) -> list[str]:
    """What read_committed shows (``stored``: partition -> offset -> value) against the outcomes."""
    problems: list[str] = []
    visible = {(p, value): offset for p, records in stored.items() for offset, value in records.items()}
    known: set[bytes] = set()
    for txn in txns:
        known |= txn.records.keys()
        shown = {v for v, p in txn.records.items() if (p, v) in visible}
        if txn.outcome == "committed":
            counts.committed += 1
            counts.records += len(txn.records)
            if txn.offsets.keys() != txn.records.keys():
                problems.append(f"txn {txn.number} committed without a delivery report for every record")
            for value, offset in txn.offsets.items():
                got = stored.get(txn.records[value], {}).get(offset)
                if got != value:
                    problems.append(f"committed txn {txn.number}: {value!r} not at p{txn.records[value]}"
                                    f"@{offset} (found {got!r})")
        elif txn.outcome in ("aborted", "abandoned"):  # abandoned: left open, so timed out and aborted
            counts.aborted += txn.outcome == "aborted"
            counts.abandoned += txn.outcome == "abandoned"
            counts.records += len(txn.records)
            if shown:
                problems.append(f"{txn.outcome} txn {txn.number}: {len(shown)} records visible, "
                                f"e.g. {min(shown)!r}")
        elif txn.outcome == "unknown" or txn.outcome == "open":
            counts.unknown += 1
            if shown and shown != txn.records.keys():
                problems.append(f"txn {txn.number} (outcome unknown) is partly visible: "
                                f"{len(shown)} of {len(txn.records)} records")
    strangers = [v for (_p, v) in visible if v not in known]
    if strangers:
        problems.append(f"{len(strangers)} visible records of no transaction, e.g. {strangers[:3]}")
    return problems


def check_group(name: str, acked: Iterable[Mapping[int, int]], committed: Mapping[int, int],
                counts: TxnCounts) -> list[str]:
    """Every acknowledged commit is returned by OffsetFetch (or a later, higher one)."""
    highest: dict[int, int] = {}
    for commit in acked:
        counts.group_commits += 1
        for p, offset in commit.items():
            highest[p] = max(highest.get(p, -1), offset)
    return [f"group {name}: p{p} committed {committed.get(p)} < acknowledged {offset}"
            for p, offset in sorted(highest.items()) if committed.get(p, -1) < offset]


class TxnWorkload:
    """A transactional producer and a committing group member; the ``Workload`` of
    ``powercut_cycles.run_cycles`` (start, quiesce, check, resume, finish)."""

    name = "transactions"

    def __init__(self, seed: int, partitions: int = 8, txn_topic_config: Mapping[str, str] | None = None,
                 stable_timeout: float = 30.0, abandon_every: int = 2) -> None:
        self.seed = seed
        self.abandon_every = abandon_every
        self._cuts = 0
        self.partitions = partitions
        self.topic_config = dict(txn_topic_config or {})
        self.stable_timeout = stable_timeout
        self.counts = TxnCounts()
        self.txn: TxnProducer | None = None
        self.committer: GroupCommitter | None = None
        self.in_topic = ""
        self.in_partitions = 0

    def start(self, bootstrap: str, in_topic: str, in_partitions: int) -> None:
        self.in_topic, self.in_partitions = in_topic, in_partitions
        create_topic(bootstrap, TXN_TOPIC, self.partitions, self.topic_config)
        self.txn = TxnProducer(bootstrap, in_topic, in_partitions, self.partitions, self.seed)
        self.committer = GroupCommitter(bootstrap, in_topic, in_partitions)
        self.txn.start()
        self.committer.start()

    def _threads(self) -> tuple[TxnProducer, GroupCommitter]:
        assert self.txn is not None and self.committer is not None, "not started"
        return self.txn, self.committer

    def before_cut(self, rng: random.Random) -> None:
        """Before every ``abandon_every``-th cut (the first included) the transactional producer
        "crashes" mid-transaction."""
        self._cuts += 1
        if self.abandon_every and self._cuts % self.abandon_every == 1 % self.abandon_every:
            self._threads()[0].abandon_next()

    def quiesce(self) -> None:
        for thread in self._threads():
            thread.quiesce()

    def resume(self) -> None:
        for thread in self._threads():
            thread.resume()

    def check(self, bootstrap: str) -> list[str]:
        """With the threads quiesced: the problems found (counts accumulate in ``counts``)."""
        txn, committer = self._threads()
        waited, unstable = wait_stable(bootstrap, TXN_TOPIC, self.partitions, self.stable_timeout)
        self.counts.stable_wait_s = max(self.counts.stable_wait_s, waited)
        counts = TxnCounts(stable_wait_s=self.counts.stable_wait_s)  # everything is checked again each time
        self.counts = counts
        problems: list[str] = []
        plain = self._offset_fetch(bootstrap, PLAIN_GROUP, problems)
        if plain is not None:
            problems += check_group(PLAIN_GROUP, committer.acked, plain, counts)
        if unstable:  # read_committed cannot read to the end, and OffsetFetch of TXN_GROUP waits
            return [*problems, f"last stable offset below the high watermark after {waited:.0f}s: {unstable}"]
        stored, _ends = read_partitions(bootstrap, TXN_TOPIC, dict.fromkeys(range(self.partitions), 0))
        problems += check_transactions(txn.txns, stored, counts)
        eos = self._offset_fetch(bootstrap, TXN_GROUP, problems)
        if eos is None:
            return problems
        done = [t.staged for t in txn.txns if t.outcome == "committed"]
        problems += check_group(TXN_GROUP, done, eos, counts)
        possible: dict[int, set[int]] = {}
        for t in txn.txns:
            if t.outcome not in ("aborted", "abandoned"):
                for p, offset in t.staged.items():
                    possible.setdefault(p, set()).add(offset)
        problems += [f"group {TXN_GROUP}: p{p} committed {offset}, which only aborted transactions staged"
                     for p, offset in sorted(eos.items())
                     if offset >= 0 and offset not in possible.get(p, ())]
        return problems

    def _offset_fetch(self, bootstrap: str, group: str, problems: list[str]) -> dict[int, int] | None:
        try:  # a transaction left hanging blocks it (UNSTABLE_OFFSET_COMMIT until the timeout)
            return committed_offsets(bootstrap, group, self.in_topic, self.in_partitions)
        except KafkaException as exc:
            problems.append(f"group {group}: OffsetFetch failed: {exc.args[0]}")
            return None

    def summary(self) -> str:
        c = self.counts
        if self.txn is None or self.committer is None:
            return "not started"
        txn, committer = self.txn, self.committer
        return (f"transactions checked: {c.committed} committed, {c.aborted} aborted, {c.abandoned} "
                f"abandoned open, {c.unknown} unknown "
                f"({c.records} records); group commits checked: {c.group_commits}; longest wait for "
                f"LSO = HW {c.stable_wait_s:.1f}s; producer renewals {txn.renewals}; "
                f"client errors noted {len(txn.notes) + len(committer.notes)}")

    def finish(self) -> None:
        for thread in (self.txn, self.committer):
            if thread is not None:
                thread.stop()


def run_txn_variant(tmp_path: Path, variant: str, cycles: int) -> TxnWorkload:
    """The power-cut scenario of ``powercut_cycles.run_variant`` with a :class:`TxnWorkload`; asserts
    that nothing acknowledged was lost and that enough was checked."""
    seed = int(os.environ.get(SEED_ENV) or random.randrange(1 << 30))
    workload = TxnWorkload(seed)
    report = run_variant(tmp_path, variant, cycles, seed=seed, workloads=[workload])
    assert_nothing_lost(report, variant, cycles)
    counts = workload.counts
    assert counts.committed >= cycles and counts.aborted >= 1, workload.summary()
    assert counts.group_commits >= cycles, workload.summary()
    return workload


def long_txn_test(variant: str) -> Callable[[Path], None]:
    """The long run (50 cycles; 20 under CI; ``STREAMLOG_POWER_CUT_LONG_CYCLES``) of one durability
    path, as a test function for a module of its own, so that parallel workers (``--dist loadfile``)
    share them."""
    import pytest
    from tests.support.brokerproc import broker_target
    from tests.support.faultfs import require_fuse
    from tests.support.powercut_cycles import long_cycles

    cycles = long_cycles()

    @pytest.mark.slow
    @pytest.mark.timeout(1800)
    @pytest.mark.skipif(broker_target() != "streamlog", reason="needs a Streamlog broker on a data dir")
    def test(tmp_path: Path) -> None:
        require_fuse()
        run_txn_variant(tmp_path, variant, cycles)

    return test
