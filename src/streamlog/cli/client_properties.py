"""Client properties of the client commands: ``-X key=value``, ``--command-config FILE``, ``$STREAMLOG_*``.

Theory of operation: every client command takes the connection settings a secured cluster needs
(TLS, SASL) the two ways Kafka users already have them.  ``-X key=value`` (repeatable, as kcat's)
takes librdkafka's own property names.  ``--command-config FILE`` (default ``$STREAMLOG_COMMAND_CONFIG``)
reads a Java ``.properties`` file, the ``--command-config`` of Kafka's ``kafka-*.sh`` tools, and
translates the Java client's names into librdkafka's: ``sasl.mechanism`` -> ``sasl.mechanisms``, the
username and password of a PLAIN or SCRAM ``sasl.jaas.config`` -> ``sasl.username``/``sasl.password``,
a PEM ``ssl.truststore.location`` -> ``ssl.ca.location``, a PEM ``ssl.keystore.location`` ->
``ssl.certificate.location`` + ``ssl.key.location``.  Other names pass through unchanged, so a file
may also use librdkafka's names; librdkafka itself rejects the ones it does not know.  What has no
librdkafka equivalent (a JKS truststore, a Kerberos login module) is refused with one line naming
the property.  Precedence, lowest first: built-in settings, the file, ``-X``; a command's own flags
(``--group``, ``--acks`` ...) win over both, and ``-b`` wins over a ``bootstrap.servers`` property.

This module does no I/O beyond reading the file and never imports confluent-kafka; a value that is a
secret (passwords, the JAAS config, inline keys) is never put into an error message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Final

from streamlog.cli.base import CliError

COMMAND_CONFIG_ENV: Final = "STREAMLOG_COMMAND_CONFIG"
SECRET_MARKERS: Final = ("password", "secret", "jaas", ".pem", "sasl.oauthbearer.config")

# Java client properties that librdkafka cannot take, with why (and what to do instead).
UNSUPPORTED: Final = {
    "sasl.login.callback.handler.class": "Java callback classes cannot be used",
    "sasl.client.callback.handler.class": "Java callback classes cannot be used",
    "sasl.login.class": "Java login classes cannot be used",
    "ssl.keymanager.algorithm": "librdkafka uses OpenSSL, not a Java key manager",
    "ssl.trustmanager.algorithm": "librdkafka uses OpenSSL, not a Java trust manager",
    "ssl.secure.random.implementation": "librdkafka uses OpenSSL's random source",
    "ssl.engine.factory.class": "Java classes cannot be used",
    "security.providers": "Java security providers cannot be used",
}
# Java client properties with no effect here (librdkafka's defaults do the same); dropped silently.
IGNORED: Final = frozenset({
    "ssl.protocol", "ssl.enabled.protocols", "ssl.truststore.password", "ssl.truststore.type",
    "ssl.keystore.type", "schema.registry.url", "basic.auth.credentials.source", "basic.auth.user.info",
    "schema.registry.basic.auth.user.info",
})
_JAAS_MODULES: Final = {
    "org.apache.kafka.common.security.plain.PlainLoginModule": "PLAIN",
    "org.apache.kafka.common.security.scram.ScramLoginModule": "SCRAM",
}
_JAAS_OPTION = re.compile(r'\s*([A-Za-z_][\w.]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s;"]+))')


def is_secret(name: str) -> bool:
    lowered = name.lower()
    return any(marker in lowered for marker in SECRET_MARKERS)


def shown(name: str, value: str) -> str:
    """How a property reads in a message: its value, or ``***`` when the value is a secret."""
    return f"{name}=***" if is_secret(name) else f"{name}={value}"


# --- Java .properties -----------------------------------------------------------------------------

_ESCAPES: Final = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


def _logical_lines(text: str) -> Iterable[tuple[int, str]]:
    """(line number, logical line) as java.util.Properties.load joins them: a natural line ending
    in an odd number of backslashes continues on the next, whose leading whitespace is dropped;
    comment (``#``, ``!``) and blank lines are skipped, and a comment line is never continued."""
    natural = re.split(r"\r\n|\r|\n", text)
    index = 0
    while index < len(natural):
        number, line = index + 1, natural[index].lstrip(" \t\f")
        index += 1
        if not line or line[0] in "#!":
            continue
        while _continues(line) and index < len(natural):
            line = line[:-1] + natural[index].lstrip(" \t\f")
            index += 1
        if _continues(line):  # a backslash at the very end of the file continues into nothing
            line = line[:-1]
        yield number, line


def _continues(line: str) -> bool:
    return (len(line) - len(line.rstrip("\\"))) % 2 == 1


def _unescape(text: str, number: int, source: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char != "\\" or i + 1 >= len(text):
            out.append(char)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "u":
            digits = text[i + 2:i + 6]
            if len(digits) != 4 or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise CliError(f"{source}, line {number}: malformed \\uxxxx escape", 2)
            out.append(chr(int(digits, 16)))
            i += 6
        else:
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
    return "".join(out)


def _split_key(line: str) -> tuple[str, str]:
    """Key and (still escaped) value of a logical line: the key ends at the first unescaped ``=``,
    ``:`` or whitespace; then whitespace and at most one ``=`` or ``:`` separate it from the value."""
    i = 0
    while i < len(line):
        char = line[i]
        if char == "\\":
            i += 2
            continue
        if char in "=: \t\f":
            break
        i += 1
    key, rest = line[:i], line[i:].lstrip(" \t\f")
    if rest[:1] in ("=", ":"):
        rest = rest[1:].lstrip(" \t\f")
    return key, rest


def parse_properties(text: str, source: str = "properties") -> dict[str, str]:
    """The key/value pairs of a Java ``.properties`` text (the last of a repeated key wins)."""
    result: dict[str, str] = {}
    for number, line in _logical_lines(text):
        raw_key, raw_value = _split_key(line)
        result[_unescape(raw_key, number, source)] = _unescape(raw_value, number, source)
    return result


def read_properties_file(path: str) -> dict[str, str]:
    """A ``.properties`` file's pairs (UTF-8, else ISO-8859-1 as Java reads it); CliError (exit 2)
    if it cannot be read."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read command config {path}: {exc.strerror or exc}", 2) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("iso-8859-1")
    return parse_properties(text.removeprefix("\ufeff"), f"command config {path}")


# --- Java names -> librdkafka names ----------------------------------------------------------------


def jaas_credentials(text: str) -> tuple[str, str]:
    """(username, password) of a PLAIN or SCRAM ``sasl.jaas.config``; CliError (exit 2) for any other
    login module or a missing option.  The text is a secret: it never appears in a message."""
    module, _, rest = text.strip().partition(" ")
    if module not in _JAAS_MODULES:
        name = module if re.fullmatch(r"[\w.$]+", module) else "its login module"
        raise CliError(f"sasl.jaas.config: {name} is not supported (only PlainLoginModule and "
                       "ScramLoginModule, whose username and password become sasl.username/sasl.password)", 2)
    rest = rest.strip()
    flag, _, options = rest.partition(" ")
    if flag not in ("required", "requisite", "sufficient", "optional"):
        options = rest
    found: dict[str, str] = {}
    position = 0
    body = options.strip().removesuffix(";").rstrip()
    while position < len(body):
        match = _JAAS_OPTION.match(body, position)
        if match is None:
            raise CliError("sasl.jaas.config: cannot parse its options (expected key=\"value\" pairs)", 2)
        quoted, bare = match.group(2), match.group(3)
        found[match.group(1)] = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
        position = match.end()
        while position < len(body) and body[position].isspace():
            position += 1
    missing = [k for k in ("username", "password") if k not in found]
    if missing:
        raise CliError(f"sasl.jaas.config: no {' or '.join(missing)} option", 2)
    return found["username"], found["password"]


def _store_type(props: Mapping[str, str], kind: str) -> str:
    """The declared (or, for a PEM file, detected) type of the trust/key store ``kind``; Java's
    default is JKS, but a file that is plainly PEM is taken as PEM."""
    declared = props.get(f"ssl.{kind}.type", "").strip().upper()
    if declared:
        return declared
    location = props.get(f"ssl.{kind}.location", "")
    try:
        with open(location, "rb") as handle:
            head = handle.read(4096)
    except OSError as exc:
        raise CliError(f"ssl.{kind}.location {location}: {exc.strerror or exc}", 2) from None
    return "PEM" if b"-----BEGIN " in head else "JKS"


def translate(props: Mapping[str, str]) -> dict[str, str]:
    """librdkafka properties for a Java client's ``props`` (names librdkafka shares pass through)."""
    out: dict[str, str] = {}
    for name, value in props.items():
        if name in UNSUPPORTED:
            raise CliError(f"property {name} is not supported: {UNSUPPORTED[name]}", 2)
        if name in IGNORED or name in ("ssl.keystore.password",):
            continue
        if name == "sasl.mechanism":
            out["sasl.mechanisms"] = value.strip()
        elif name == "sasl.jaas.config":
            out["sasl.username"], out["sasl.password"] = jaas_credentials(value)
        elif name == "ssl.truststore.location":
            kind = _store_type(props, "truststore")
            if kind != "PEM":
                raise CliError(f"ssl.truststore.location: a {kind} truststore cannot be used by librdkafka; "
                               "export its certificates as PEM (keytool -exportcert -rfc) and give that "
                               "file as ssl.truststore.location with ssl.truststore.type=PEM", 2)
            out["ssl.ca.location"] = value
        elif name == "ssl.truststore.certificates":
            out["ssl.ca.pem"] = value
        elif name == "ssl.keystore.location":
            kind = _store_type(props, "keystore")
            if kind == "PEM":
                out["ssl.certificate.location"] = value
                out["ssl.key.location"] = value
            elif kind in ("PKCS12", "P12"):
                out["ssl.keystore.location"] = value
                if "ssl.keystore.password" in props:
                    out["ssl.keystore.password"] = props["ssl.keystore.password"]
            else:
                raise CliError(f"ssl.keystore.location: a {kind} keystore cannot be used by librdkafka; "
                               "use a PEM or PKCS12 keystore (ssl.keystore.type)", 2)
        elif name == "ssl.keystore.certificate.chain":
            out["ssl.certificate.pem"] = value
        elif name == "ssl.keystore.key":
            out["ssl.key.pem"] = value
        elif name == "ssl.endpoint.identification.algorithm":
            out[name] = value.strip() or "none"  # Java's empty value switches the check off
        else:
            out[name] = value
    return out


def merge(file_props: Mapping[str, str] | None, overrides: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The user's librdkafka properties: the translated file, then each ``-X`` (the later wins)."""
    result = translate(file_props) if file_props else {}
    for key, value in overrides:
        result[key] = value
    return result


def command_config_path(flag: str | None, environ: Mapping[str, str]) -> str | None:
    """``--command-config`` if given, else ``$STREAMLOG_COMMAND_CONFIG`` if set and not empty."""
    if flag:
        return flag
    return environ.get(COMMAND_CONFIG_ENV, "").strip() or None
