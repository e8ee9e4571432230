"""Word count: the "hello world" of stream processing, as Kafka Streams' WordCountDemo.

Reads lines of text from `streams-plaintext-input`, splits them into words, counts each word in a
persistent state store (`counts`, backed by the compacted changelog `wordcount-counts-changelog`)
and writes every updated count to `streams-wordcount-output` (key: the word, value: INT64).
Counting by word re-keys the stream, so the words pass through `wordcount-counts-repartition` first:
every occurrence of a word reaches the same task, whichever input partition it arrived on.

    streamlog topics create streams-plaintext-input streams-wordcount-output
    python examples/word_count.py &
    printf 'all streams lead to kafka\nhello kafka streams\n' | streamlog produce streams-plaintext-input
    streamlog consume streams-wordcount-output --from-beginning --value-format int64
"""

from __future__ import annotations

import argparse

from streamlog.streams import App, serdes

INPUT = "streams-plaintext-input"
OUTPUT = "streams-wordcount-output"


def build_app(bootstrap_servers: str = "localhost:9092", **config: object) -> App:
    app = App("wordcount", bootstrap_servers=bootstrap_servers, **config)  # type: ignore[arg-type]
    lines = app.stream(INPUT, key_serde=serdes.STRING, value_serde=serdes.STRING)
    counts = (lines.flat_map_values(lambda line: line.lower().split())
                   .group_by(lambda _key, word: word, key_serde=serdes.STRING, value_serde=serdes.STRING)
                   .count(name="counts"))
    counts.to_stream().to(OUTPUT, key_serde=serdes.STRING, value_serde=serdes.INT64)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--bootstrap-server", default="localhost:9092")
    parser.add_argument("--state-dir", default=None)
    args = parser.parse_args()
    build_app(args.bootstrap_server, state_dir=args.state_dir).run()


if __name__ == "__main__":
    main()
