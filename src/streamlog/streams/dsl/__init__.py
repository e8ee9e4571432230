"""The DSL: `Stream`, `BranchedStream`, `GroupedStream`, `Table`, `GroupedTable`, `GlobalTable`."""

from streamlog.streams.dsl.branched import BranchedStream
from streamlog.streams.dsl.grouped import GroupedStream, GroupedTable
from streamlog.streams.dsl.stream import Stream
from streamlog.streams.dsl.table import GlobalTable, Table

__all__ = ["BranchedStream", "GlobalTable", "GroupedStream", "GroupedTable", "Stream", "Table"]
