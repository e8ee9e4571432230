"""ApiVersions: advertise every API that has a handler, with the ranges we serve.

Produce is advertised from version 0 although versions 0-2 are refused (message format v0/v1 are
gone), because librdkafka enables compression only when Produce's advertised minimum is 0
(KAFKA-18659); Kafka 4 does the same.

Features (v3+, tagged fields): ``transaction.version`` is supported 0-2 and finalized at 2, as a new
Kafka 4.x cluster has it; Java clients (4.0+) read the finalized level to decide whether to speak
transaction version 2 (KIP-890: Produce v12, EndTxn v5, no AddPartitionsToTxn).  Other clients
ignore features.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamlog.broker.handlers.base import RequestContext
from streamlog.protocol.codec import Msg
from streamlog.protocol.errors import ErrorCode
from streamlog.protocol.registry import SPECS

if TYPE_CHECKING:
    from streamlog.broker.core import Broker


def advertised_ranges() -> list[Msg]:
    from streamlog.broker.handlers import HANDLERS

    out = []
    for key in sorted(HANDLERS):
        spec = SPECS.get(key)
        if spec is None:
            continue
        low = spec.advertised_min if spec.advertised_min is not None else spec.min_version
        out.append({"api_key": key, "min_version": low, "max_version": spec.max_version})
    return out


# --- features (transaction.version: helper "txn"; KIP-890) -------------------------------------
# (name, supported min, supported max, finalized level)
FEATURES: tuple[tuple[str, int, int, int], ...] = (
    ("transaction.version", 0, 2, 2),
)
FINALIZED_FEATURES_EPOCH = 0  # the levels never change while the broker runs


def feature_fields() -> Msg:
    return {
        "supported_features": [{"name": n, "min_version": lo, "max_version": hi}
                               for n, lo, hi, _level in FEATURES],
        "finalized_features_epoch": FINALIZED_FEATURES_EPOCH,
        "finalized_features": [{"name": n, "max_version_level": level, "min_version_level": level}
                               for n, _lo, _hi, level in FEATURES],
    }
# --- end features ------------------------------------------------------------------------------


def api_versions_body(error: ErrorCode = ErrorCode.NONE) -> Msg:
    return {"error_code": int(error), "api_keys": advertised_ranges(), "throttle_time_ms": 0,
            **feature_fields()}


async def handle_api_versions(broker: Broker, ctx: RequestContext, body: Msg) -> Msg:
    return api_versions_body()


HANDLERS = {18: handle_api_versions}
