"""The broker's loggers as Kafka's BROKER_LOGGER config resource: listed and set at runtime.

Theory of operation: Kafka lists its log4j loggers and their levels under the BROKER_LOGGER
resource (name = the broker id) and lets IncrementalAlterConfigs change a logger's level until the
next restart (levels are never persisted).  Streamlog's loggers are Python ``logging`` loggers:

* the names are the Python logger names under ``streamlog`` (``streamlog.broker.topics``,
  ``streamlog.storage``, ...) that exist in the process, plus ``root`` (Kafka's name for the root
  logger; it stands for Python's root logger, which the command line's ``--log-level`` sets);
* levels map by threshold to Kafka's names: CRITICAL is ``FATAL``, WARNING is ``WARN``, ERROR,
  INFO and DEBUG keep their names, and ``TRACE`` (which Python lacks) is level 5, below DEBUG;
* a logger's value is its effective level (its own, or the nearest ancestor's), as Kafka reports;
* DELETE of a logger's level makes it inherit its parent's again; the root logger's level cannot
  be removed (INVALID_REQUEST, as Kafka).

Other libraries' loggers are not listed: they are not the broker's.
"""

from __future__ import annotations

import logging
from typing import Final

ROOT: Final = "root"
PREFIX: Final = "streamlog"
TRACE: Final = 5
# Kafka's LogLevelConfig.VALID_LOG_LEVELS, most severe first, with the Python level of each.
LEVELS: Final = {"FATAL": logging.CRITICAL, "ERROR": logging.ERROR, "WARN": logging.WARNING,
                 "INFO": logging.INFO, "DEBUG": logging.DEBUG, "TRACE": TRACE}


def kafka_level(level: int) -> str:
    """Kafka's name for a Python level (the most severe name whose threshold it reaches)."""
    for name, threshold in LEVELS.items():
        if level >= threshold:
            return name
    return "TRACE"


def _logger(name: str) -> logging.Logger:
    return logging.getLogger() if name == ROOT else logging.getLogger(name)


def logger_names() -> list[str]:
    """``root``, ``streamlog`` and every logger under it that exists, sorted."""
    known = [name for name in logging.root.manager.loggerDict
             if name == PREFIX or name.startswith(PREFIX + ".")]
    return [ROOT, *sorted(set(known) | {PREFIX})]


def exists(name: str) -> bool:
    if name in (ROOT, PREFIX):
        return True
    return name.startswith(PREFIX + ".") and name in logging.root.manager.loggerDict


def levels() -> dict[str, str]:
    """Every listed logger's effective level, by Kafka's names."""
    return {name: kafka_level(_logger(name).getEffectiveLevel()) for name in logger_names()}


def set_level(name: str, level: str) -> None:
    """Set a logger's level (a name from LEVELS; checked by the caller)."""
    _logger(name).setLevel(LEVELS[level])


def unset_level(name: str) -> None:
    """Let a logger inherit its parent's level again (not the root logger: checked by the caller)."""
    _logger(name).setLevel(logging.NOTSET)
