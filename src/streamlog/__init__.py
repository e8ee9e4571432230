"""Streamlog: a single-node event-streaming platform that speaks the Kafka wire protocol."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["EmbeddedBroker", "__version__"]

if TYPE_CHECKING:
    from streamlog.embedded import EmbeddedBroker


def __getattr__(name: str) -> Any:
    # Lazy, so `import streamlog` (and the CLI) stays fast and does not load the broker.
    if name == "EmbeddedBroker":
        from streamlog.embedded import EmbeddedBroker

        return EmbeddedBroker
    raise AttributeError(name)
