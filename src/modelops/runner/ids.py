"""Run ids: short, sortable, safe as a directory name, a Kubernetes label and an Optuna study name."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime

from modelops.core.naming import DNS_LABEL_RULE as RUN_ID_PATTERN  # a run id is a DNS-1123 label


def new_run_id(study: str | None = None) -> str:
    """``<study>-<yyyymmdd-hhmmss>-<4 hex>``: sorts by start time, and two runs started together still differ."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    prefix = slug(study or "run")[:30].rstrip("-") or "run"
    return f"{prefix}-{stamp}-{secrets.token_hex(2)}"


def slug(text: str) -> str:
    """Lowercase letters, digits and dashes only."""
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9]+", "-", text.lower())).strip("-")


def check_run_id(value: str) -> str:
    """Refuse run ids that would not work as a directory, a label or a study name, with the rule in the message."""
    if not RUN_ID_PATTERN.match(value):
        raise ValueError(
            f"run id {value!r} must be 1-63 lowercase letters, digits or '-', starting and ending with a letter or "
            f"digit (e.g. {slug(value)[:63] or 'sir-001'!r})"
        )
    return value
