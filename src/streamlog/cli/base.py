"""What every ``streamlog`` command shares without a Kafka client: the name, the error type, flag types.

Theory of operation: ``serve`` runs the broker and needs no client library, so what it shares with
the client commands lives here rather than in ``common`` (which imports confluent-kafka, a large
import that would only slow the broker's start).  ``common`` re-exports these names.
"""

from __future__ import annotations

import argparse
from typing import Final

PROG: Final = "streamlog"


class CliError(Exception):
    """A failure to report as one line on stderr, with the process exit code."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def key_value(text: str) -> tuple[str, str]:
    """argparse type for ``key=value`` (the value may be empty and may contain '=')."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    return key, value
