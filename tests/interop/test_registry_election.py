"""Two registries on one broker: one leader writes, the other forwards; the leader's death hands over."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from streamlog.embedded import EmbeddedBroker
from streamlog.registry.server import RegistryServer

pytestmark = pytest.mark.interop


@pytest.fixture
def own_broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker() as started:
        yield started


def record(name: str) -> dict[str, str]:
    return {"schema": json.dumps({"type": "record", "name": name, "fields": [{"name": "a", "type": "int"}]})}


def wait_for(condition: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_writes_to_either_instance_land_once_with_one_id_sequence(own_broker: EmbeddedBroker) -> None:
    first = RegistryServer(own_broker.bootstrap_servers, port=0)
    second = RegistryServer(own_broker.bootstrap_servers, port=0)
    urls = [first.start_in_thread(), second.start_in_thread()]
    try:
        wait_for(lambda: first.is_leader or second.is_leader)
        assert not (first.is_leader and second.is_leader)
        ids = []
        for n in range(6):
            answer = httpx.post(f"{urls[n % 2]}/subjects/s{n}/versions", json=record(f"R{n}"), timeout=30)
            assert answer.status_code == 200, answer.text
            ids.append(answer.json()["id"])
        assert ids == [1, 2, 3, 4, 5, 6]
        # the same schema through the other instance: the same id, no new version
        again = httpx.post(f"{urls[1]}/subjects/s0/versions", json=record("R0"), timeout=30)
        assert again.json()["id"] == 1
        for url in urls:
            wait_for(lambda url=url: len(httpx.get(f"{url}/subjects").json()) == 6)
            assert httpx.get(f"{url}/subjects/s0/versions").json() == [1]
    finally:
        first.stop()
        second.stop()


def test_the_follower_takes_over_when_the_leader_stops(own_broker: EmbeddedBroker) -> None:
    servers = [RegistryServer(own_broker.bootstrap_servers, port=0) for _ in range(2)]
    urls = [server.start_in_thread() for server in servers]
    try:
        wait_for(lambda: any(server.is_leader for server in servers))
        leader = next(i for i, server in enumerate(servers) if server.is_leader)
        follower = 1 - leader
        before = httpx.post(f"{urls[follower]}/subjects/a/versions", json=record("A"), timeout=30)
        assert before.status_code == 200 and before.json()["id"] == 1
        servers[leader].stop()
        wait_for(lambda: servers[follower].is_leader, timeout=40)
        after = httpx.post(f"{urls[follower]}/subjects/b/versions", json=record("B"), timeout=30)
        assert after.status_code == 200 and after.json()["id"] == 2  # read what the old leader wrote
    finally:
        for server in servers:
            server.stop()


def test_an_ineligible_instance_never_leads_and_forwards(own_broker: EmbeddedBroker) -> None:
    follower = RegistryServer(own_broker.bootstrap_servers, port=0, eligible=False)
    follower_url = follower.start_in_thread()
    leader = RegistryServer(own_broker.bootstrap_servers, port=0)
    leader.start_in_thread()
    try:
        answer = httpx.post(f"{follower_url}/subjects/x/versions", json=record("X"), timeout=30)
        assert answer.status_code == 200 and answer.json()["id"] == 1
        assert leader.is_leader and not follower.is_leader
    finally:
        leader.stop()
        follower.stop()


def test_without_an_eligible_instance_writes_fail_with_50004(own_broker: EmbeddedBroker,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("streamlog.registry.election.LEADER_WAIT_S", 1.0)
    lonely = RegistryServer(own_broker.bootstrap_servers, port=0, eligible=False)
    url = lonely.start_in_thread()
    try:
        answer = httpx.post(f"{url}/subjects/x/versions", json=record("X"), timeout=30)
        assert answer.status_code == 500 and answer.json()["error_code"] == 50004
        assert httpx.get(f"{url}/subjects").json() == []  # reads still work
    finally:
        lonely.stop()


def test_a_forwarded_write_is_not_forwarded_again(own_broker: EmbeddedBroker) -> None:
    follower = RegistryServer(own_broker.bootstrap_servers, port=0, eligible=False)
    url = follower.start_in_thread()
    leader = RegistryServer(own_broker.bootstrap_servers, port=0)
    leader.start_in_thread()
    try:
        wait_for(lambda: leader.is_leader)
        # as if another instance had forwarded it here, believing this one leads
        answer = httpx.post(f"{url}/subjects/x/versions", json=record("X"), timeout=30,
                            headers={"X-Streamlog-Registry-Forwarded-By": "http://elsewhere"})
        assert answer.status_code == 500 and answer.json()["error_code"] == 50003
        assert httpx.get(f"{url}/subjects").json() == []
    finally:
        leader.stop()
        follower.stop()
