#!/usr/bin/env bash
# Stand-in for Apache Kafka's bin/kafka-topics.sh, for librdkafka's tests that shell out to it
# (test_kafka_topics() in its tests/test.c runs "$KAFKA_PATH/bin/kafka-topics.sh --bootstrap-server
# $BROKERS ..."): --create/--alter/--delete of one --topic with --partitions and --config, translated to
# the `streamlog topics` commands.  --replication-factor is accepted and ignored (one node).
# The harness (tests/support/librdkafka_suite.py) sets KAFKA_PATH to this directory's parent and
# STREAMLOG_PYTHON to its interpreter.
set -euo pipefail
action="" topic="" bootstrap="" partitions="" configs=()
while [ "$#" -gt 0 ]; do
    case "$1" in
        --bootstrap-server) bootstrap="$2"; shift 2 ;;
        --create|--alter|--delete) action="${1#--}"; shift ;;
        --topic) topic="$2"; shift 2 ;;
        --partitions) partitions="$2"; shift 2 ;;
        --replication-factor) shift 2 ;;
        --config) configs+=(--config "$2"); shift 2 ;;
        *) echo "kafka-topics.sh (streamlog stand-in): unsupported argument $1" >&2; exit 2 ;;
    esac
done
if [ -z "$action" ] || [ -z "$topic" ] || [ -z "$bootstrap" ]; then
    echo "kafka-topics.sh (streamlog stand-in): need --bootstrap-server, --topic and one of --create/--alter/--delete" >&2
    exit 2
fi
args=("$topic" --bootstrap "$bootstrap")
if [ -n "$partitions" ]; then args+=(--partitions "$partitions"); fi
if [ "$action" != "delete" ]; then args+=("${configs[@]+"${configs[@]}"}"); fi
exec "${STREAMLOG_PYTHON:-python3}" -m streamlog topics "$action" "${args[@]}"
