"""The broker's share of the open-file limit: how ResourceLimits splits it, the settings that
override it, and raising the soft limit to the hard one (in a child process, whose limits can be
set freely)."""

from __future__ import annotations

import json
import resource
import subprocess
import sys

import pytest

from streamlog.broker.config import BrokerConfig, ConfigError
from streamlog.broker.resources import MIN_CONNECTIONS, MIN_LOG_FILES, ResourceLimits


def derive(open_files: int, **settings: str) -> ResourceLimits:
    return ResourceLimits.derive(BrokerConfig(settings), open_files)


def test_the_limit_is_split_between_log_files_and_connections_after_a_reserve() -> None:
    limits = derive(1024)
    assert (limits.open_files, limits.log_files, limits.connections) == (1024, 480, 480)
    assert limits.partitions == 10_000 and limits.flush_round == 240
    assert derive(256).log_files == 96 and derive(256).connections == 96
    tiny = derive(40)
    assert (tiny.log_files, tiny.connections) == (MIN_LOG_FILES, MIN_CONNECTIONS)
    assert "open-file limit 1024: at most 480 segment files open, 480 connections" in limits.describe()


def test_settings_given_explicitly_win() -> None:
    limits = derive(1024, **{"streamlog.max.open.log.files": "100", "streamlog.max.partitions": "-1"})
    assert (limits.log_files, limits.connections, limits.partitions) == (100, 860, None)
    assert derive(1024, **{"max.connections": "7"}).connections == 7
    for key, value in (("max.connections", "0"), ("streamlog.max.open.log.files", "0"),
                       ("streamlog.max.partitions", "-2")):
        with pytest.raises(ConfigError):
            BrokerConfig({key: value})


RAISE = """
import json, resource
from streamlog.broker.resources import raise_open_file_limit
limit = raise_open_file_limit()
print(json.dumps([limit.soft, limit.hard, limit.raised_from, resource.getrlimit(resource.RLIMIT_NOFILE)[0],
                  limit.describe()]))
"""


def run_with_limits(soft: int, hard: int) -> list[object]:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    out = subprocess.run([sys.executable, "-c", RAISE], capture_output=True, text=True, check=True,
                         preexec_fn=limit)
    result: list[object] = json.loads(out.stdout)
    return result


def test_the_soft_limit_is_raised_to_the_hard_one() -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    top = min(hard, 4096) if hard != resource.RLIM_INFINITY else 4096
    soft, new_hard, raised_from, now, text = run_with_limits(256, top)
    assert (soft, new_hard, raised_from, now) == (top, top, 256, top)
    assert text == f"open-file limit {top} (raised from 256; hard limit {top})"
    assert run_with_limits(top, top)[2:] == [None, top, f"open-file limit {top} (the hard limit)"]
