"""Connectors: sources that turn database changes into records, sinks that project topics into databases.

See docs/connectors.md.  The runner (runtime/) runs connectors in one process and talks to brokers only
through the Kafka protocol (confluent-kafka), so it works against any Kafka cluster; api.py is the contract
between the runner and a connector, data.py Kafka Connect's schema model, plugins.py the names.
"""
