"""``python -m streamlog ...``: the same as the ``streamlog`` console script."""

from streamlog.cli.main import main

raise SystemExit(main())
