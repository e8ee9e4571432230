"""Client properties (``-X``, ``--command-config``, ``$STREAMLOG_COMMAND_CONFIG``): parsing the Java
``.properties`` format, translating Java client names to librdkafka's, precedence, and that every
client command hands them to the confluent-kafka client it constructs."""

from __future__ import annotations

import contextlib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from streamlog.cli import common, consume, produce
from streamlog.cli.base import CliError
from streamlog.cli.client_properties import (
    COMMAND_CONFIG_ENV,
    jaas_credentials,
    merge,
    parse_properties,
    translate,
)
from streamlog.cli.main import main

PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
PLAIN_JAAS = ('org.apache.kafka.common.security.plain.PlainLoginModule required '
              'username="alice" password="s3cr\\"et";')


# --- the .properties format ------------------------------------------------------------------------


def test_comments_blank_lines_and_separators() -> None:
    text = ("# a comment\n! another\n\n   \n"
            "a=1\n  b = 2 \nc:3\nd 4\ne\nf=\ng = x=y:z\n")
    assert parse_properties(text) == {"a": "1", "b": "2 ", "c": "3", "d": "4", "e": "", "f": "", "g": "x=y:z"}


def test_escapes() -> None:
    text = "key\\ with\\=odd\\:chars = tab\\there\\nnew \\u00e9\\\\ \\q\n"
    assert parse_properties(text) == {"key with=odd:chars": "tab\there\nnew \u00e9\\ q"}


def test_continuation_lines() -> None:
    text = ("sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required \\\n"
            "    username=\"u\" \\\n"
            "    password=\"p\";\n"
            "even=ends with two\\\\\n"
            "next=1\n"
            "# a comment line is not continued \\\n"
            "after=2\r\n"
            "last=3\\")
    props = parse_properties(text)
    assert props["sasl.jaas.config"] == (
        'org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="p";')
    assert props["even"] == "ends with two\\"
    assert props["next"] == "1" and props["after"] == "2" and props["last"] == "3"


def test_malformed_unicode_escape_is_a_usage_error() -> None:
    with pytest.raises(CliError) as info:
        parse_properties("a=\\u12x4\n", "command config f")
    assert info.value.exit_code == 2 and "line 1" in info.value.message


# --- Java names -> librdkafka ----------------------------------------------------------------------


@pytest.mark.parametrize("module", [
    "org.apache.kafka.common.security.plain.PlainLoginModule",
    "org.apache.kafka.common.security.scram.ScramLoginModule",
])
def test_jaas_config_gives_username_and_password(module: str) -> None:
    text = f'{module} required username="alice" password="s3cr\\"et";'
    assert jaas_credentials(text) == ("alice", 's3cr"et')
    assert jaas_credentials(f"{module} required password=pw username=bob ;") == ("bob", "pw")


def test_other_login_modules_are_refused_without_showing_the_secret() -> None:
    with pytest.raises(CliError) as info:
        jaas_credentials('com.sun.security.auth.module.Krb5LoginModule required keyTab="k" password="zz9";')
    assert info.value.exit_code == 2 and "Krb5LoginModule" in info.value.message
    with pytest.raises(CliError) as info:
        jaas_credentials('org.apache.kafka.common.security.plain.PlainLoginModule required password="zz9";')
    assert "username" in info.value.message and "zz9" not in info.value.message


def test_translate_java_names(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text(PEM)
    props = translate({
        "security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.jaas.config": PLAIN_JAAS.replace("plain.PlainLoginModule", "scram.ScramLoginModule"),
        "ssl.truststore.location": str(ca), "ssl.truststore.password": "ignored",
        "ssl.keystore.location": str(ca), "ssl.keystore.type": "PEM", "ssl.key.password": "kp",
        "ssl.endpoint.identification.algorithm": "", "client.id": "me", "acks": "all",
    })
    assert props == {
        "security.protocol": "SASL_SSL", "sasl.mechanisms": "SCRAM-SHA-512",
        "sasl.username": "alice", "sasl.password": 's3cr"et', "ssl.ca.location": str(ca),
        "ssl.certificate.location": str(ca), "ssl.key.location": str(ca), "ssl.key.password": "kp",
        "ssl.endpoint.identification.algorithm": "none", "client.id": "me", "acks": "all",
    }


def test_a_jks_truststore_is_refused_by_name(tmp_path: Path) -> None:
    jks = tmp_path / "trust.jks"
    jks.write_bytes(b"\xfe\xed\xfe\xed binary")
    for extra in ({}, {"ssl.truststore.type": "JKS"}, {"ssl.truststore.type": "PKCS12"}):
        with pytest.raises(CliError) as info:
            translate({"ssl.truststore.location": str(jks), **extra})
        assert info.value.exit_code == 2 and info.value.message.startswith("ssl.truststore.location: a ")


def test_a_pkcs12_keystore_passes_to_librdkafka(tmp_path: Path) -> None:
    assert translate({"ssl.keystore.location": "/k.p12", "ssl.keystore.type": "PKCS12",
                      "ssl.keystore.password": "pw"}) == {"ssl.keystore.location": "/k.p12",
                                                          "ssl.keystore.password": "pw"}


def test_unsupported_java_property_is_a_usage_error() -> None:
    with pytest.raises(CliError) as info:
        translate({"sasl.login.callback.handler.class": "x.Y"})
    assert info.value.exit_code == 2 and "sasl.login.callback.handler.class" in info.value.message


def test_x_wins_over_the_file() -> None:
    assert merge({"client.id": "file", "sasl.mechanism": "PLAIN"}, [("client.id", "x"), ("a", "1")]) == {
        "client.id": "x", "sasl.mechanisms": "PLAIN", "a": "1"}


def test_client_config_precedence() -> None:
    user = {"client.id": "mine", "group.id": "user", "bootstrap.servers": "o:1", "log_level": "7"}
    config = common.client_config("b:1", None, user, **{"group.id": "flag"})
    assert config["client.id"] == "mine", "properties win over built-in defaults"
    assert config["group.id"] == "flag", "a command's own flags win over properties"
    assert config["bootstrap.servers"] == "b:1" and config["log_level"] == 0
    assert common.client_config("b:1")["client.id"] == "streamlog-cli"


# --- through the command line ----------------------------------------------------------------------


class Stop(Exception):
    """Raised by a fake client once its config has been recorded."""


class Recorder:
    def __init__(self) -> None:
        self.configs: dict[str, dict[str, Any]] = {}

    def admin(self, config: dict[str, Any]) -> Any:
        self.configs["admin"] = config
        topic = SimpleNamespace(partitions={0: None}, error=None)

        def stop(*_args: Any, **_kwargs: Any) -> Any:
            raise Stop

        return SimpleNamespace(list_topics=lambda timeout=0: SimpleNamespace(topics={"t": topic}),
                               poll=lambda _t=0: None, list_consumer_groups=stop)

    def client(self, kind: str) -> Any:
        def factory(config: dict[str, Any]) -> Any:
            self.configs[kind] = config
            raise Stop
        return factory


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    rec = Recorder()
    monkeypatch.setattr(common, "AdminClient", rec.admin)
    monkeypatch.setattr(produce, "Producer", rec.client("producer"))
    monkeypatch.setattr(consume, "Consumer", rec.client("consumer"))
    monkeypatch.delenv(COMMAND_CONFIG_ENV, raising=False)
    monkeypatch.delenv(common.BOOTSTRAP_ENV, raising=False)
    return rec


COMMANDS = {
    "topics list": (["topics", "list"], ["admin"]),
    "produce": (["produce", "t"], ["admin", "producer"]),
    "consume": (["consume", "t", "--group", "g"], ["admin", "consumer"]),
    "groups list": (["groups", "list"], ["admin"]),
    "schema-aware produce": (["produce", "t", "--value-format", "json-schema", "--value-schema-id", "1"],
                             ["admin", "producer"]),
}


def properties_escaped(text: str) -> str:
    return text.replace("\\", "\\\\")


def _run(argv: list[str]) -> None:
    with contextlib.suppress(Stop):
        main(argv)


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_client_command_passes_the_properties(command: str, recorder: Recorder, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    argv, clients = COMMANDS[command]
    conf = tmp_path / "client.properties"
    conf.write_text(f"security.protocol=SASL_SSL\nsasl.mechanism=PLAIN\nsasl.jaas.config={properties_escaped(PLAIN_JAAS)}\n"
                    "client.id=from-file\n")
    monkeypatch.setattr("sys.stdin", SimpleNamespace(buffer=iter([])))
    _run([*argv, "-b", "h:1", "--command-config", str(conf), "-X", "client.id=from-x",
          "-X", "socket.timeout.ms=1234"])
    assert sorted(recorder.configs) == sorted(clients)
    for kind in clients:
        config = recorder.configs[kind]
        assert config["security.protocol"] == "SASL_SSL", kind
        assert config["sasl.mechanisms"] == "PLAIN" and config["sasl.username"] == "alice", kind
        assert config["sasl.password"] == 's3cr"et', kind
        assert config["client.id"] == "from-x" and config["socket.timeout.ms"] == "1234", kind
        assert config["bootstrap.servers"] == "h:1", kind
    if command == "consume":
        assert recorder.configs["consumer"]["group.id"] == "g"


def test_the_environment_names_the_default_file(recorder: Recorder, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    env_file, flag_file = tmp_path / "env.properties", tmp_path / "flag.properties"
    env_file.write_text("client.id=from-env\nbootstrap.servers=envhost:9093\n")
    flag_file.write_text("client.id=from-flag\n")
    monkeypatch.setenv(COMMAND_CONFIG_ENV, str(env_file))
    _run(["topics", "list"])
    assert recorder.configs["admin"]["client.id"] == "from-env"
    assert recorder.configs["admin"]["bootstrap.servers"] == "envhost:9093", "a property names the cluster"
    _run(["topics", "list", "-b", "h:1", "--command-config", str(flag_file)])
    assert recorder.configs["admin"]["client.id"] == "from-flag", "--command-config wins over the environment"
    assert recorder.configs["admin"]["bootstrap.servers"] == "h:1", "-b wins over bootstrap.servers"


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("streamlog: error: "), err
    return err[0]


def test_x_without_equals_is_a_usage_error(recorder: Recorder, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["topics", "list", "-b", "h:1", "-X", "client.id"]) == 2
    assert "expected key=value" in capsys.readouterr().err
    assert not recorder.configs


def test_a_property_librdkafka_rejects_is_one_line(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv(COMMAND_CONFIG_ENV, raising=False)
    assert main(["topics", "list", "-b", "h:1", "-X", "no.such.property=1"]) == 2  # real AdminClient
    assert "client property no.such.property" in one_line(capsys)
    assert main(["produce", "t", "-b", "h:1", "-X", "security.protocol=carrier-pigeon"]) == 2
    assert "client property security.protocol" in one_line(capsys)


def test_file_mistakes_are_one_line_usage_errors(recorder: Recorder, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["topics", "list", "-b", "h:1", "--command-config", str(tmp_path / "missing")]) == 2
    assert "cannot read command config" in one_line(capsys)
    conf = tmp_path / "c.properties"
    conf.write_text("sasl.jaas.config=org.example.Custom required password=\"topsecret\";\n")
    assert main(["topics", "list", "-b", "h:1", "--command-config", str(conf)]) == 2
    line = one_line(capsys)
    assert "sasl.jaas.config" in line and "topsecret" not in line
    assert not recorder.configs


def test_rejected_secret_values_are_not_shown() -> None:
    def factory(_config: dict[str, Any]) -> Any:
        text = 'Invalid value "hunter22" for configuration property "sasl.password"'
        raise KafkaException(KafkaError(KafkaError._INVALID_ARG, text))

    properties = {"sasl.password": "hunter22"}
    with pytest.raises(CliError) as info:
        common.make_client(factory, common.client_config("h:1", None, properties), properties)
    assert info.value.exit_code == 2
    assert info.value.message.startswith("client property sasl.password: ")
    assert "hunter22" not in info.value.message
