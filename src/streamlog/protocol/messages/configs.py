"""Configs: DescribeConfigs (32), AlterConfigs (33), IncrementalAlterConfigs (44).

Versions served: DescribeConfigs 1-4 (flexible 4+), AlterConfigs 0-2 (flexible 2+),
IncrementalAlterConfigs 0-1 (flexible 1+).  Resource types (int8): 2 topic, 4 broker,
8 broker logger.  AlterConfigs replaces a resource's whole override set; IncrementalAlterConfigs
applies per-key operations (0 set, 1 delete, 2 append, 3 subtract).

DescribeConfigs request::

    resources               [resource]
      resource_type         int8
      resource_name         string
      configuration_keys    [string], nullable      null = every key
    include_synonyms        bool (v1+)
    include_documentation   bool (v3+)

DescribeConfigs response::

    throttle_time_ms        int32
    results                 [result]
      error_code            int16
      error_message         string, nullable
      resource_type         int8
      resource_name         string
      configs               [config]
        name                string
        value               string, nullable        null for sensitive values
        read_only           bool
        config_source       int8 (v1+), default -1  1 dynamic topic, 4 static broker, 5 default ...
        is_default          bool (v0 only)
        is_sensitive        bool
        synonyms            [name string, value string?, source int8] (v1+)
        config_type         int8 (v3+)              1 boolean, 2 string, 3 int, ... 0 unknown
        documentation       string, nullable (v3+)

AlterConfigs / IncrementalAlterConfigs request::

    resources               [resource]
      resource_type         int8
      resource_name         string
      configs               [config]
        name                string
        config_operation    int8      (IncrementalAlterConfigs only)
        value               string, nullable
    validate_only           bool

AlterConfigs / IncrementalAlterConfigs response::

    throttle_time_ms        int32
    responses               [error_code int16, error_message string?, resource_type int8,
                             resource_name string]
"""

from streamlog.protocol.schema import ARRAY, BOOL, INT8, INT16, INT32, STRING, Field, api, arr, f

DESCRIBE_CONFIGS = api(
    32, "DescribeConfigs", valid="1-4", flexible="4+",
    request=[
        arr("resources", "0+", [
            f("resource_type", INT8),
            f("resource_name", STRING),
            f("configuration_keys", ARRAY(STRING), null="0+"),
        ]),
        f("include_synonyms", BOOL, "1+"),
        f("include_documentation", BOOL, "3+"),
    ],
    response=[
        f("throttle_time_ms", INT32),
        arr("results", "0+", [
            f("error_code", INT16),
            f("error_message", STRING, null="0+"),
            f("resource_type", INT8),
            f("resource_name", STRING),
            arr("configs", "0+", [
                f("name", STRING),
                f("value", STRING, null="0+"),
                f("read_only", BOOL),
                f("config_source", INT8, "1+", default=-1),
                f("is_default", BOOL, "0"),
                f("is_sensitive", BOOL),
                arr("synonyms", "1+", [
                    f("name", STRING, "1+"),
                    f("value", STRING, "1+", null="0+"),
                    f("source", INT8, "1+"),
                ]),
                f("config_type", INT8, "3+"),
                f("documentation", STRING, "3+", null="0+"),
            ]),
        ]),
    ],
)


def _alter_response() -> list[Field]:
    return [
        f("throttle_time_ms", INT32),
        arr("responses", "0+", [
            f("error_code", INT16),
            f("error_message", STRING, null="0+"),
            f("resource_type", INT8),
            f("resource_name", STRING),
        ]),
    ]


ALTER_CONFIGS = api(
    33, "AlterConfigs", valid="0-2", flexible="2+",
    request=[
        arr("resources", "0+", [
            f("resource_type", INT8),
            f("resource_name", STRING),
            arr("configs", "0+", [
                f("name", STRING),
                f("value", STRING, null="0+"),
            ]),
        ]),
        f("validate_only", BOOL),
    ],
    response=_alter_response(),
)

INCREMENTAL_ALTER_CONFIGS = api(
    44, "IncrementalAlterConfigs", valid="0-1", flexible="1+",
    request=[
        arr("resources", "0+", [
            f("resource_type", INT8),
            f("resource_name", STRING),
            arr("configs", "0+", [
                f("name", STRING),
                f("config_operation", INT8),
                f("value", STRING, null="0+"),
            ]),
        ]),
        f("validate_only", BOOL),
    ],
    response=_alter_response(),
)
