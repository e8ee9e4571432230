"""Coverage-guided fuzzing of Streamlog's decoders with atheris (libFuzzer for Python).

Theory of operation: each module of :mod:`fuzz.targets` is one fuzz target, a function
``test_one_input(data: bytes) -> None`` that feeds arbitrary bytes to one family of decoders
(framing, request headers, request and response bodies, record batches, compression, varints,
the storage layer's on-disk files).  A decoder may refuse bad input only with the exceptions it
documents; the target catches exactly those.  Anything else escaping ``test_one_input`` (an
``IndexError``, a ``struct.error``, a broken round trip reported as :class:`fuzz.common.Finding`,
...) is a finding: libFuzzer stops and writes the input as ``crash-<sha1>``; an input that runs
longer than ``-timeout`` or drives RSS past ``-rss_limit_mb`` becomes ``timeout-``/``oom-``.

``python -m fuzz TARGET`` runs one target in this process (:mod:`fuzz.cli`), importing Streamlog
under atheris's import hook so its bytecode reports coverage; ``python -m fuzz --all --seconds N``
runs every target in turn, each in its own subprocess (:mod:`fuzz.runner`).  Seeds live in
``fuzz/corpus/<target>/`` and are regenerated from real clients by ``python -m fuzz.capture``.

Nothing in this package may import ``streamlog`` at module level except the target modules, which
the command line imports inside the instrumentation hook.
"""
