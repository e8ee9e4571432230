"""EmbeddedBroker leaves the host process's open-file limit alone; raising it is an explicit call."""

from __future__ import annotations

import resource
import subprocess
import sys

from streamlog import EmbeddedBroker
from streamlog.embedded import raise_open_file_limit


def test_the_embedded_broker_does_not_change_the_open_file_limit() -> None:
    before = resource.getrlimit(resource.RLIMIT_NOFILE)
    with EmbeddedBroker() as broker:
        broker.create_topic("t", partitions=2)
        assert resource.getrlimit(resource.RLIMIT_NOFILE) == before
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == before


SCRIPT = """
import resource
from streamlog.embedded import raise_open_file_limit
resource.setrlimit(resource.RLIMIT_NOFILE, (64, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
limit = raise_open_file_limit()
print(limit.raised_from, resource.getrlimit(resource.RLIMIT_NOFILE)[0] == limit.soft > 64)
"""


def test_the_helper_raises_it_when_asked() -> None:
    assert callable(raise_open_file_limit)
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["64", "True"]
