"""Everything calabaria needs from Optuna beyond its documented API, in one place, behind a version gate.

calabaria is tested against the Optuna releases in ``SUPPORTED`` (the same range as its pyproject; 4.3 is the first
with ``optuna.exceptions.UpdateFinishedTrialError``, which tells a lost race from a real error). Outside it,
importing calabaria's algorithms fails at once with a message naming the range, instead of failing later inside a
study. Inside it, :func:`self_check` verifies each assumption below against the installed Optuna; the test suite
runs it (``test_cal_optuna_compat.py``), so a new Optuna release that breaks one is caught by CI naming the
assumption, not by a runner in production.

The assumptions, and why no public API serves:

- ``FrozenTrial._trial_id``: the storage's id of a trial. Storage methods (public) take trial ids, and a study's
  trials expose only their ``number``; looking the id up per trial (``get_trial_id_from_study_id_trial_number``) would
  cost a query per trial per census on RDB storages. Read through :func:`trial_id`.
- Object identity of unchanged trials (``get_trials(deepcopy=False)`` hands back the same FrozenTrial object until
  that trial is written, for in-memory, journal and cached RDB storages): an optimisation only (the census refiles a
  changed object; a storage that always builds fresh objects is merely slower). Checked by :func:`self_check`.
- Nothing else: the journal file backend implements the public ``BaseJournalBackend``; leases live in calabaria's own
  table (see ``_leases``), not in Optuna's private heartbeat queries; study ids come from the public
  ``BaseStorage.get_study_id_from_name``; Optuna's log level is never changed globally (only around
  ``create_study``, see :func:`quiet_study_creation`).
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator

import optuna
from optuna.trial import FrozenTrial

# Inclusive lower bound, exclusive upper bound, as (major, minor). Keep in step with packages/calabaria/pyproject.toml.
SUPPORTED = ((4, 3), (6, 0))
SUPPORTED_TEXT = "optuna>=4.3,<6"


class OptunaVersionError(ImportError):
    """The installed Optuna is outside the range calabaria supports."""


def parse_version(text: str) -> tuple[int, int]:
    match = re.match(r"(\d+)\.(\d+)", text)
    if match is None:
        raise OptunaVersionError(f"cannot read Optuna's version {text!r}; calabaria needs {SUPPORTED_TEXT}")
    return int(match.group(1)), int(match.group(2))


def check_version(text: str | None = None) -> tuple[int, int]:
    """Raise OptunaVersionError unless ``text`` (default: the installed Optuna's version) is supported."""
    text = optuna.__version__ if text is None else text
    version = parse_version(text)
    low, high = SUPPORTED
    if not low <= version < high:
        raise OptunaVersionError(
            f"calabaria supports {SUPPORTED_TEXT}, but Optuna {text} is installed: "
            f"pip install '{SUPPORTED_TEXT}' (or upgrade calabaria if it supports a newer Optuna)"
        )
    return version


check_version()


def trial_id(trial: FrozenTrial | optuna.Trial) -> int:
    """The storage's id of ``trial`` (a FrozenTrial, or the Trial ``study.ask`` returns): Optuna keeps it in a private
    attribute of both; see the module docstring."""
    return trial._trial_id


@contextlib.contextmanager
def quiet_study_creation() -> Iterator[None]:
    """Silence Optuna's "A new study created ..." / "Using an existing study ..." INFO lines for one create_study.

    Each runner (and each resume) would print them on stderr. Only the ``optuna`` logger's level is touched, only
    while the call runs, and only when it is at Optuna's default (INFO or lower): a level the user set is left alone.
    """
    logger = logging.getLogger("optuna")
    before = optuna.logging.get_verbosity()
    lowered = before <= logging.INFO
    if lowered:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        if lowered:
            logger.setLevel(before)


def self_check() -> list[str]:
    """Check every assumption in the module docstring against the installed Optuna; returns what holds, raises
    AssertionError naming the first that does not."""
    from optuna.storages import InMemoryStorage
    from optuna.storages.journal import BaseJournalBackend

    held = [f"version {optuna.__version__} in {SUPPORTED_TEXT}"]
    storage = InMemoryStorage()
    with quiet_study_creation():
        study = optuna.create_study(storage=storage, study_name="compat-check")
    trial = study.ask()
    frozen = study.get_trials(deepcopy=False)[0]
    tid = trial_id(frozen)
    assert trial_id(trial) == tid, "Trial._trial_id is not the storage's trial id"
    assert isinstance(tid, int), "FrozenTrial._trial_id is no longer an int"
    assert storage.get_trial(tid).number == frozen.number, "FrozenTrial._trial_id is not the storage's trial id"
    assert storage.get_trial_id_from_study_id_trial_number(storage.get_study_id_from_name("compat-check"), 0) == tid
    held.append("FrozenTrial._trial_id is the storage's trial id")
    again = study.get_trials(deepcopy=False)[0]
    assert again is frozen, "an unchanged trial is no longer handed back as the same object"
    storage.set_trial_user_attr(tid, "k", 1)
    assert study.get_trials(deepcopy=False)[0] is not frozen, "a written trial is handed back as the old object"
    held.append("get_trials(deepcopy=False) keeps the object of an unchanged trial and replaces a written one")
    for name in ("read_logs", "append_logs"):
        assert callable(getattr(BaseJournalBackend, name, None)), f"BaseJournalBackend.{name} is gone"
    held.append("BaseJournalBackend has read_logs/append_logs")
    return held
