"""Interactive queries without a broker: `query_listen`, murmur2 partitions, endpoints in client ids,
and how the HTTP endpoint reads keys and writes values."""

from __future__ import annotations

import datetime
import math
from decimal import Decimal
from typing import Any

import pytest

from streamlog.streams import App, Windowed, serdes
from streamlog.streams.config import StreamsConfig
from streamlog.streams.runtime.clients import (
    ClientSettings,
    OutageMonitor,
    main_consumer_config,
    query_endpoint_of,
    with_query_endpoint,
)
from streamlog.streams.runtime.queries import default_partition, murmur2
from streamlog.streams.runtime.query_server import BadRequest, parse_key, to_json


@pytest.mark.parametrize("listen", ["localhost:8080", "0.0.0.0:0", "127.0.0.1:65535", "[::1]:9000",
                                    "query-1.example.com:80", "[::]:8080"])
def test_query_listen_accepts_host_and_port(listen: str) -> None:
    assert App("a", query_listen=listen).config.query_listen == listen


def test_query_listen_is_off_by_default() -> None:
    assert StreamsConfig.create("a").query_listen is None


@pytest.mark.parametrize("listen", ["localhost", ":8080", "localhost:", "localhost:65536", "localhost:http",
                                    "http://localhost:8080", "local host:80", "localhost:8080\n", "::1:8080",
                                    "[nothex]:80", "", 8080, ("localhost", 8080)])
def test_query_listen_refuses_anything_else(listen: Any) -> None:
    with pytest.raises(ValueError, match=r"query_listen must be 'host:port' with a port 0-65535 .* got "):
        App("a", query_listen=listen)


@pytest.mark.parametrize(("data", "expected"), [
    # Kafka's UtilsTest.testMurmur2
    (b"21", -973932308),
    (b"foobar", -790332482),
    (b"a-little-bit-long-string", -985981536),
    (b"a-little-bit-longer-string", -1486304829),
    (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
    (b"abc", 479470107),
])
def test_murmur2_is_kafkas(data: bytes, expected: int) -> None:
    assert murmur2(data) == expected


def test_partition_is_the_positive_hash_modulo() -> None:
    # toPositive(-790332482) = 1357151166; 1357151166 % 50 = 16
    assert default_partition(b"foobar", 50) == 16
    assert default_partition(b"abc", 7) == 479470107 % 7


def test_the_endpoint_travels_in_the_client_id() -> None:
    settings = ClientSettings("app", "localhost:9092", False, "earliest", "inst", {})
    plain = main_consumer_config(settings, OutageMonitor("b"), "range")
    assert plain["client.id"] == "app-inst-consumer"
    assert query_endpoint_of(plain["client.id"]) is None
    config = main_consumer_config(settings, OutageMonitor("b"), "range", "host-1:8080")
    assert config["client.id"] == "app-inst-consumer@host-1:8080"
    assert query_endpoint_of(config["client.id"]) == "host-1:8080"
    assert query_endpoint_of(with_query_endpoint("x", "[::1]:1")) == "[::1]:1"


@pytest.mark.parametrize("client_id", [None, "", "rdkafka", "svc@prod", "a@host", "a@host:port", "@"])
def test_client_ids_without_an_endpoint(client_id: str | None) -> None:
    assert query_endpoint_of(client_id) is None


@pytest.mark.parametrize(("text", "serde", "key"), [
    ("alice", serdes.STRING, "alice"),
    ("a/b c", serdes.STRING, "a/b c"),
    ('"alice"', serdes.STRING, '"alice"'),
    ("-42", serdes.INT64, -42),
    ("7", serdes.INT32, 7),
    ("2.5", serdes.FLOAT64, 2.5),
    ("AAEC_w==", serdes.BYTES, b"\x00\x01\x02\xff"),
    ("AAEC/w", serdes.BYTES, b"\x00\x01\x02\xff"),
    ('"alice"', serdes.JSON, "alice"),
    ('{"id":1}', serdes.JSON, {"id": 1}),
    ("12", serdes.JSON, 12),
])
def test_keys_in_urls(text: str, serde: serdes.Serde, key: Any) -> None:
    assert parse_key(text, serde) == key


@pytest.mark.parametrize(("text", "serde", "message"), [
    ("x1", serdes.INT64, "not an integer"),
    ("one", serdes.FLOAT64, "not a number"),
    ("!!", serdes.BYTES, "not base64"),
    ("alice", serdes.JSON, r"not JSON text \(a string key in quotes\)"),
])
def test_keys_that_do_not_parse(text: str, serde: serdes.Serde, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        parse_key(text, serde)


def test_values_as_json() -> None:
    assert to_json({"a": [1, 2.5, None, True], 3: (b"\x00\xff",)}) == {
        "a": [1, 2.5, None, True], "3": ["AP8="]}
    assert to_json(Windowed("k", 0, 60_000)) == {"key": "k", "start": 0, "end": 60_000}
    assert to_json(Decimal("1.10")) == "1.10"
    assert to_json(datetime.date(2024, 2, 29)) == "2024-02-29"
    assert to_json(math.inf) == "inf" and to_json(math.nan) == "nan"
    assert to_json({("a", 1): 2}) == {'["a",1]': 2}
    assert to_json(object.__new__(Marker)) == "marker"


class Marker:
    def __str__(self) -> str:
        return "marker"
