"""The corpus's helper modules (hostile_corpus, hostile_checks) sit beside the tests; pytest's importlib mode does not
put this folder on sys.path, so do it here."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)
