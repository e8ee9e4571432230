"""Clear errors: records the serdes reject (fail, log and continue, dead letter), a missing source
topic, an unreachable cluster, an internal topic with the wrong partition count, a state directory
another instance holds."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from tests.streams.runtime.conftest import AppFactory, TopicFactory
from tests.support.streams_runtime import produce, read_topic, running, unique, wait_for, wait_for_count

from streamlog.streams import serdes
from streamlog.streams.app import App
from streamlog.streams.errors import StreamsError
from streamlog.streams.runtime import RunnerState, StreamsRunner
from streamlog.streams.state import StateDirLockedError

GOOD_AND_BAD = [(b"a", b"1"), (b"b", b"not json"), (b"c", b"3")]


def doubling_app(app_factory: AppFactory, source: str, sink: str, **kwargs: object) -> App:
    app = app_factory(**kwargs)
    (app.stream(source, key_serde=serdes.STRING, value_serde=serdes.JSON)
        .map_values(lambda value: value * 2)
        .to(sink, value_serde=serdes.JSON))
    return app


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
def test_fail_stops_with_topic_partition_offset_and_commits_what_came_before(
        app_factory: AppFactory, streamlog_bootstrap: str, streamlog_topic_factory: TopicFactory,
        guarantee: str) -> None:
    source = streamlog_topic_factory(partitions=1)
    sink = streamlog_topic_factory(partitions=1)
    produce(streamlog_bootstrap, source, GOOD_AND_BAD)
    runner = StreamsRunner(doubling_app(app_factory, source, sink, processing_guarantee=guarantee),
                           progress_interval_s=0).start()
    with pytest.raises(StreamsError, match=rf"record at {source}-0@1 .*deserialization_errors='fail'"):
        wait_for(lambda: runner.state is RunnerState.ERROR, 60, "the runner to fail")
        runner.stop()
    assert [r.value for r in read_topic(streamlog_bootstrap, sink)] == [b"2"]
    # the first record was committed: a restart fails again at once, at offset 1
    again = StreamsRunner(doubling_app(app_factory, source, sink, processing_guarantee=guarantee),
                          progress_interval_s=0).start()
    with pytest.raises(StreamsError, match=rf"{source}-0@1"):
        wait_for(lambda: again.state is RunnerState.ERROR, 60, "the restarted runner to fail")
        again.stop()
    assert [r.value for r in read_topic(streamlog_bootstrap, sink)] == [b"2"]


def test_log_and_continue_skips_with_one_warning(app_factory: AppFactory, streamlog_bootstrap: str,
                                                 streamlog_topic_factory: TopicFactory,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="streamlog.streams")
    source = streamlog_topic_factory(partitions=1)
    sink = streamlog_topic_factory(partitions=1)
    produce(streamlog_bootstrap, source, GOOD_AND_BAD)
    with running(doubling_app(app_factory, source, sink, deserialization_errors="log_and_continue")):
        out = wait_for_count(streamlog_bootstrap, sink, 2)
    assert [r.value for r in out] == [b"2", b"6"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len([w for w in warnings if "skipping" in w]) == 1
    assert f"skipping the record at {source}-0@1: cannot deserialize it" in warnings[0]
    assert not any(r.exc_info for r in caplog.records)


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
def test_dead_letter_topic_gets_the_raw_record_with_error_headers(
        app_factory: AppFactory, streamlog_bootstrap: str, streamlog_topic_factory: TopicFactory,
        guarantee: str) -> None:
    source = streamlog_topic_factory(partitions=1)
    sink = streamlog_topic_factory(partitions=1)
    dlq = unique("dlq")
    produce(streamlog_bootstrap, source, GOOD_AND_BAD, headers=[("origin", b"test")])
    app = doubling_app(app_factory, source, sink, deserialization_errors="dead_letter", dead_letter_topic=dlq,
                       processing_guarantee=guarantee)
    with running(app):
        assert [r.value for r in wait_for_count(streamlog_bootstrap, sink, 2)] == [b"2", b"6"]
        (dead,) = wait_for_count(streamlog_bootstrap, dlq, 1)
    assert (dead.key, dead.value) == (b"b", b"not json")
    headers = dict(dead.headers)
    assert headers["origin"] == b"test"
    assert headers["__streams.errors.topic"] == source.encode()
    assert headers["__streams.errors.partition"] == b"0"
    assert headers["__streams.errors.offset"] == b"1"
    assert headers["__streams.errors.exception"]
    assert headers["__streams.errors.message"]


def test_missing_source_topic_is_named(app_factory: AppFactory,
                                       streamlog_topic_factory: TopicFactory) -> None:
    present = streamlog_topic_factory(partitions=1)
    missing = unique("no-such-topic")
    app = app_factory()
    app.stream([present, missing]).to(streamlog_topic_factory(partitions=1))
    runner = StreamsRunner(app, connect_timeout_s=10)
    with pytest.raises(StreamsError, match=rf"source topic '{missing}' missing on the Kafka cluster"):
        runner.run()
    assert runner.state is RunnerState.ERROR


def test_unreachable_cluster_is_a_clear_error_after_a_bounded_wait(tmp_path: Path) -> None:
    from tests.support.brokerproc import free_port

    app = App(unique("app"), f"127.0.0.1:{free_port()}", state_dir=tmp_path)
    app.stream("anything").to("elsewhere")
    started = time.monotonic()
    expected = r"cannot reach the Kafka cluster at 127\.0\.0\.1:\d+: .*waited 3s"
    with pytest.raises(StreamsError, match=expected):
        StreamsRunner(app, connect_timeout_s=3).run()
    assert time.monotonic() - started < 20


def test_internal_topic_with_the_wrong_partition_count(app_factory: AppFactory,
                                                       streamlog_topic_factory: TopicFactory) -> None:
    source = streamlog_topic_factory(partitions=2)
    app = app_factory()
    app.stream(source).group_by_key().count(name="counts").to_stream().to(streamlog_topic_factory())
    changelog = f"{app.application_id}-counts-changelog"
    streamlog_topic_factory(partitions=5, name=changelog)
    expected = rf"internal topic '{changelog}' has 5 partitions, the topology needs 2"
    with pytest.raises(StreamsError, match=expected):
        StreamsRunner(app).run()


def test_second_instance_on_the_same_state_dir_fails_at_once(app_factory: AppFactory,
                                                             streamlog_topic_factory: TopicFactory) -> None:
    source = streamlog_topic_factory(partitions=1)
    sink = streamlog_topic_factory(partitions=1)
    with running(doubling_app(app_factory, source, sink)), \
            pytest.raises(StateDirLockedError, match="locked by another process"):
        StreamsRunner(doubling_app(app_factory, source, sink)).run()
