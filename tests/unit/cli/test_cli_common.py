"""Shared client-command plumbing without a broker: the bootstrap address check, delivery error text."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError

from streamlog.cli import common, topics
from streamlog.cli.main import main


@pytest.mark.parametrize("address", [
    "localhost:9092", "h:1", "h:65535", "broker.example", "[::1]:9092", "[::1]", "PLAINTEXT://h:9092",
    "a:9092,b:19092", "fe80::1",
])
def test_good_bootstrap_addresses_pass(address: str) -> None:
    assert common.check_bootstrap(address) == address


@pytest.mark.parametrize(("address", "port"), [
    ("localhost:99999", "99999"), ("h:0", "0"), ("h:", ""), ("h:x", "x"), ("[::1]:70000", "70000"),
    ("a:9092,b:65536", "65536"), ("h:-1", "-1"), ("h:\u00b2", "\u00b2"),
])
def test_bad_ports_are_usage_errors(address: str, port: str) -> None:
    with pytest.raises(common.CliError) as info:
        common.check_bootstrap(address)
    assert info.value.exit_code == 2
    assert info.value.message == (f"bad bootstrap address {address!r}: invalid port {port!r} "
                                  "(expected 1-65535)")


def test_a_bad_port_fails_before_connecting(monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    def connect(_bootstrap: str, timeout: float = 0, properties: object = None) -> object:
        raise AssertionError("connected despite an invalid port")

    monkeypatch.setattr(topics, "connect", connect)
    assert main(["topics", "list", "-b", "localhost:99999"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("streamlog: error: ") and "invalid port '99999'" in err[0]
    monkeypatch.setenv(common.BOOTSTRAP_ENV, "localhost:0")
    assert main(["topics", "list"]) == 2
    assert "invalid port '0'" in capsys.readouterr().err


class Message:
    def __init__(self, key: bytes | None) -> None:
        self._key = key

    def key(self) -> bytes | None:
        return self._key


def test_a_keyless_record_refused_as_invalid_gets_the_compaction_hint() -> None:
    invalid = KafkaError(KafkaError.INVALID_RECORD)
    text = common.delivery_error(invalid, Message(None))
    assert text == f"{invalid.str().removeprefix('Broker: ')}: {common.COMPACTED_KEY_HINT}"
    assert "compacted topics need a key on every record" in text and "--key-separator" in text
    assert common.delivery_error(invalid, Message(b"k")) == invalid.str().removeprefix("Broker: ")
    too_large = KafkaError(KafkaError.MSG_SIZE_TOO_LARGE)
    assert common.COMPACTED_KEY_HINT not in common.delivery_error(too_large, Message(None))
