"""ApiVersions (key 18): the first request of every connection; lists the versions we serve.

The response body is flexible from v3, but its header is always response header v0 (see
``headers.py``), so a client that sent a version we do not know can still read the error.
"""

from streamlog.protocol.schema import INT16, INT32, INT64, STRING, api, arr, f

API_VERSIONS = api(
    18, "ApiVersions", valid="0-4", flexible="3+",
    request=[
        f("client_software_name", STRING, "3+"),
        f("client_software_version", STRING, "3+"),
    ],
    response=[
        f("error_code", INT16),
        arr("api_keys", "0+", [
            f("api_key", INT16),
            f("min_version", INT16),
            f("max_version", INT16),
        ]),
        f("throttle_time_ms", INT32, "1+"),
        arr("supported_features", "3+", [
            f("name", STRING),
            f("min_version", INT16),
            f("max_version", INT16),
        ], tag=0),
        f("finalized_features_epoch", INT64, "3+", tag=1, default=-1),
        arr("finalized_features", "3+", [
            f("name", STRING),
            f("max_version_level", INT16),
            f("min_version_level", INT16),
        ], tag=2),
        f("zk_migration_ready", "bool", "3+", tag=3),
    ],
)
