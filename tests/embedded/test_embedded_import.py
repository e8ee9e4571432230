"""`from streamlog import EmbeddedBroker` stays cheap: the broker is imported when one starts."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from streamlog import EmbeddedBroker


def test_importing_embedded_leaves_the_broker_and_asyncio_unimported() -> None:
    code = textwrap.dedent("""
        import sys
        from streamlog import EmbeddedBroker
        from streamlog.embedded import OpenFileLimit, raise_open_file_limit
        EmbeddedBroker(config={"num.partitions": 3})  # the configuration is checked at once
        heavy = ["asyncio", "streamlog.broker.server", "streamlog.broker.core", "streamlog.storage",
                 "streamlog.coordinator", "streamlog.protocol"]
        loaded = [m for m in heavy if m in sys.modules]
        assert not loaded, loaded
    """)
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_bad_setting_still_fails_at_construction() -> None:
    try:
        EmbeddedBroker(config={"num.partitions": "zero"})
    except Exception as exc:  # the same error as before the imports were made lazy
        assert "num.partitions" in str(exc)
    else:
        raise AssertionError("a bad setting was accepted")


def test_start_create_topic_and_reset_after_a_lazy_import() -> None:
    with EmbeddedBroker() as broker:
        broker.create_topic("t", 2)
        assert broker.topics() == ["t"]
        try:
            broker.create_topic("t", 1)
        except ValueError as exc:
            assert "already exists" in str(exc)
        else:
            raise AssertionError("a duplicate topic was accepted")
        broker.reset()
        assert broker.topics() == []


def test_async_with_after_a_lazy_import() -> None:
    import asyncio

    async def main() -> list[str]:
        async with EmbeddedBroker() as broker:
            broker.create_topic("a")
            return broker.topics()

    assert asyncio.run(main()) == ["a"]
