"""The Faust implementation of ``bench.streams``' workloads (run in the faust-streaming venv).

Theory of operation: Faust's documented idioms, default settings otherwise.  One ``faust.App``
(id = the run's app id, which is also its consumer group; ``broker="kafka://HOST:PORT"``,
``store="rocksdb://"`` with ``datadir`` = ``--state-dir``, ``processing_guarantee`` ``at_least_once`` or
``exactly_once``, the web server off since nothing queries it), one agent on the input topic:

* ``filter``: values with the ``json`` serializer; ``async for key, order in stream.items()``, and for
  paid orders ``await output.send(key=key, value=shrink(order))`` (JSON).
* ``count``: values ``raw`` (the count reads no value); a ``faust.Table`` ``counts`` (``default=int``,
  ``key_type=bytes``, ``value_type=int``, RocksDB through rocksdict, a changelog topic as Faust
  always keeps, with the app's default serializers: raw keys, JSON values); ``counts[key] += 1``
  then ``await output.send(key=key, value=counts[key])`` (a JSON number).

Keys are ``raw`` bytes throughout.  The worker runs in-process as Faust's documented programmatic
entry point, ``faust.Worker(app, loglevel=...).execute_from_commandline()``; it handles SIGTERM as a
clean shutdown.  One departure from the defaults, in Faust's favour: the worker's terminal spinner is
off.  With it on (any log level from WARNING up, the CLI's default), Faust sets the root logger to
DEBUG so that every log call turns the spinner, and every ``logger.debug`` on the send path then
builds a record: about a tenth of its CPU time in this benchmark.  The first-record mark is the
first statement of the loop body.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from typing import Any

import faust  # type: ignore[import-not-found]

from bench.streams_worker import first_record_hook, paid, parse_args, shrink


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv, "python -m bench.streams_faust")
    seen = first_record_hook(args.marks)
    eos = args.guarantee == "eos"
    app = faust.App(
        args.app_id,
        broker=f"kafka://{args.bootstrap}",
        store="rocksdb://",
        datadir=args.state_dir,
        processing_guarantee="exactly_once" if eos else "at_least_once",
        topic_partitions=args.partitions,
        web_enabled=False,
    )
    filtering = args.workload == "filter"
    source = app.topic(args.input, key_type=bytes, key_serializer="raw",
                       value_serializer="json" if filtering else "raw", partitions=args.partitions)
    sink = app.topic(args.output, key_type=bytes, key_serializer="raw", value_serializer="json",
                     partitions=args.partitions)
    if filtering:

        async def process(stream: AsyncIterator[Any]) -> None:
            async for key, order in stream.items():  # type: ignore[attr-defined]
                seen()
                if paid(order):
                    await sink.send(key=key, value=shrink(order))

        app.agent(source, name="filter")(process)
    else:
        counts = app.Table("counts", default=int, partitions=args.partitions, key_type=bytes,
                           value_type=int)

        async def count(stream: AsyncIterator[Any]) -> None:
            async for key, _value in stream.items():  # type: ignore[attr-defined]
                seen()
                counts[key] += 1
                await sink.send(key=key, value=counts[key])

        app.agent(source, name="count")(count)
    worker = faust.Worker(app, loglevel="WARNING")
    worker.spinner = None  # see the module docstring
    worker.execute_from_commandline()
    return 0


if __name__ == "__main__":
    sys.exit(main())
