"""The DSL's processors, one module per family: stateless record operations (stateless.py),
stream aggregations (aggregate.py), table operations and table aggregations (table.py), the
repartition format of table changes (changed.py) and sinks (sink.py).  Each is a `Processor`, so
the DSL runs on the Processor API's engine (task.py).
"""
