"""streamlog.streams: Kafka Streams' model in Python (streams, tables, state, exactly-once, a test driver).

```python
from streamlog.streams import App, serdes
app = App("order-totals", bootstrap_servers="localhost:9092")
orders = app.stream("orders", key_serde=serdes.STRING, value_serde=serdes.JSON)
totals = orders.group_by_key().aggregate(lambda: 0, lambda key, order, total: total + order["amount"],
                                         name="totals")
totals.to_stream().to("order-totals", value_serde=serdes.INT64)
app.run()
```

Layout: `app.py` and `config.py` (the application), `dsl/` (Stream, Table and friends),
`topology/` (the node graph, compilation, Kafka Streams' names, describe), `processors/` (the DSL's
processors), `processor.py` (the Processor API), `task.py` (runs one partition of a sub-topology),
`state/` (stores), `runtime/` (run against a cluster), `testing.py` (the virtual-time test driver).
"""

from streamlog.streams import serdes
from streamlog.streams.app import App
from streamlog.streams.dsl import BranchedStream, GlobalTable, GroupedStream, GroupedTable, Stream, Table
from streamlog.streams.errors import (
    DeserializationError,
    InvalidTimestampError,
    ProcessingError,
    StreamsError,
    TopologyError,
)
from streamlog.streams.processor import (
    Cancellable,
    Processor,
    ProcessorContext,
    PunctuationType,
    RecordContext,
)
from streamlog.streams.record import Change, Record, TaskId
from streamlog.streams.windows import JoinWindows, SessionWindows, SlidingWindows, TimeWindows, Windowed

__all__ = [
    "App",
    "BranchedStream",
    "Cancellable",
    "Change",
    "DeserializationError",
    "GlobalTable",
    "GroupedStream",
    "GroupedTable",
    "InvalidTimestampError",
    "JoinWindows",
    "ProcessingError",
    "Processor",
    "ProcessorContext",
    "PunctuationType",
    "Record",
    "RecordContext",
    "SessionWindows",
    "SlidingWindows",
    "Stream",
    "StreamsError",
    "Table",
    "TaskId",
    "TimeWindows",
    "TopologyError",
    "Windowed",
    "serdes",
]
