"""Root conftest: makes ``tests.support`` importable by putting the repository root on sys.path."""

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)
