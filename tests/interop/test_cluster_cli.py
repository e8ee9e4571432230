"""``streamlog cluster info`` against the broker: cluster id, controller, brokers; text and JSON.

Theory of operation: the expected answer comes from a separate Metadata request made here with
confluent-kafka's AdminClient (the command itself asks DescribeCluster), so the two paths must agree
on the cluster id, the controller, and every broker's id and advertised address.  The session broker
sets no rack, so racks show as ``-`` (null in JSON).  An address where nothing listens, a wrong
``--format`` and a missing action are each one error (exit 1, and argparse's exit 2).
"""

from __future__ import annotations

import json

import pytest
from tests.interop.test_cli import cli
from tests.support.brokerproc import free_port
from tests.support.cli_output import ok, one_error_line
from tests.support.interop import admin_client

pytestmark = pytest.mark.interop


def test_cluster_info_text_and_json(bootstrap: str) -> None:
    meta = admin_client(bootstrap).list_topics(timeout=30)
    brokers = sorted(meta.brokers.values(), key=lambda b: b.id)
    assert brokers and meta.cluster_id

    text = ok(cli("cluster", "info", bootstrap=bootstrap))
    width = max(len("ADDRESS"), *(len(f"{b.host}:{b.port}") for b in brokers))
    id_width = max(len("BROKER"), *(len(str(b.id)) for b in brokers))
    expected = [
        f"Cluster ID: {meta.cluster_id}",
        f"Controller: {meta.controller_id}",
        "",
        f"{'BROKER'.ljust(id_width)}  {'ADDRESS'.ljust(width)}  RACK",
        *(f"{str(b.id).ljust(id_width)}  {f'{b.host}:{b.port}'.ljust(width)}  -" for b in brokers),
    ]
    assert text.splitlines() == expected

    as_json = ok(cli("cluster", "info", "--format", "json", bootstrap=bootstrap))
    assert len(as_json.splitlines()) == 1
    assert json.loads(as_json) == {
        "cluster_id": meta.cluster_id,
        "controller_id": meta.controller_id,
        "brokers": [{"id": b.id, "host": b.host, "port": b.port, "rack": None} for b in brokers],
    }


def test_cluster_info_mistakes() -> None:
    address = f"127.0.0.1:{free_port()}"
    for extra in ((), ("--format", "json")):
        line = one_error_line(cli("cluster", "info", *extra, bootstrap=address))
        assert line == f"streamlog: error: cannot reach a broker at {address} (Connection refused)"

    wrong = cli("cluster", "info", "--format", "yaml", bootstrap=address)
    assert wrong.returncode == 2 and wrong.stdout == b""
    assert wrong.stderr.decode().splitlines()[-1] == (
        "streamlog cluster info: error: argument --format: invalid choice: 'yaml' "
        "(choose from 'text', 'json')")
    bare = cli("cluster")
    assert bare.returncode == 2 and b"Traceback" not in bare.stderr
    assert bare.stderr.decode().splitlines()[-1] == (
        "streamlog cluster: error: the following arguments are required: ACTION")
