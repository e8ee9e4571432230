"""Streamlog's schema registry: the Confluent Schema Registry REST API over a `_schemas` topic.

It talks to brokers only through the Kafka protocol (confluent-kafka), so it runs unchanged against
Apache Kafka or Redpanda.  Layout: `formats/` parses schemas and decides compatibility (pure
functions, no I/O); `compatibility.py` applies the seven levels; `store.py` is the in-memory state
rebuilt from `_schemas`; `kafka_log.py` reads and writes that topic; `http/` serves the API.
"""
