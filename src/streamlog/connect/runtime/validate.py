"""Kafka Connect's config validation response (``PUT /connector-plugins/<class>/config/validate``).

Theory of operation: the config is checked as `parse_connector_config` checks it, but every error is
kept, per key (config.py's `config_errors`), and reported in Kafka Connect's shape:

======================  =========================================================================
``name``                the plugin class asked about
``error_count``         the number of errors over all keys
``groups``              the option groups (``Common``, then the plugin's own: ``Connector``)
``configs``             one entry per option the plugin and Kafka Connect define, then one per
                        given key neither defines (with its "unknown option" error)
``configs[].definition``  ``name``, ``type`` (upper case: STRING, INT...), ``required``,
                        ``default_value``, ``importance``, ``documentation``, ``group``,
                        ``width``, ``display_name``, ``dependents``, ``order``
``configs[].value``     ``name``, ``value`` (given, else the default), ``recommended_values``
                        (the allowed values), ``errors`` (messages), ``visible``
======================  =========================================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from streamlog.connect.api import ConfigKey, ConnectError
from streamlog.connect.plugins import connector_plugin
from streamlog.connect.runtime.config import common_config_def, config_errors


def _entry(key: ConfigKey, group: str, order: int, value: str | None, errors: list[str]) -> dict[str, Any]:
    required = key.default is None and not key.optional
    return {
        "definition": {"name": key.name, "type": key.type.value.upper(), "required": required,
                       "default_value": key.default, "importance": "HIGH" if required else "MEDIUM",
                       "documentation": key.doc, "group": group, "width": "NONE", "display_name": key.name,
                       "dependents": [], "order": order},
        "value": {"name": key.name, "value": value if value is not None else key.default,
                  "recommended_values": list(key.choices), "errors": errors, "visible": True},
    }


def validate_response(plugin_class: str, config: Mapping[str, str]) -> dict[str, Any]:
    given = {str(k): str(v) for k, v in config.items()}
    given.setdefault("connector.class", plugin_class)
    try:
        plugin = connector_plugin(plugin_class)
    except ConnectError as exc:
        raise ConnectError(f"Failed to find any class that implements Connector and which name matches "
                           f"{plugin_class}: {exc}") from exc
    errors = config_errors(given, plugin)
    configs: list[dict[str, Any]] = []
    seen: set[str] = set()
    own = [key for key in plugin.config_def.keys]
    own_names = {key.name for key in own}
    common = [key for key in common_config_def(plugin.kind).keys if key.name not in own_names]
    for group, keys in (("Common", common), ("Connector", own)):
        for key in keys:
            value, messages = given.get(key.name), errors.get(key.name, [])
            configs.append(_entry(key, group, len(configs) + 1, value, messages))
            seen.add(key.name)
    for name, messages in errors.items():
        if name not in seen:
            configs.append({"definition": None,
                            "value": {"name": name, "value": given.get(name), "recommended_values": [],
                                      "errors": messages, "visible": True}})
    return {"name": plugin_class, "error_count": sum(len(m) for m in errors.values()),
            "groups": ["Common", "Connector"], "configs": configs}
