"""Opening an Optuna storage: the losers of the table-creation race try again, other errors do not, and a failure
names the database's own answer, not only Optuna's generic wrapper text."""

from __future__ import annotations

import pytest
from optuna.exceptions import StorageInternalError
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from calabaria.algorithms._storage import _creation_race, _retry_creation, describe_cause


def _wrapped(cause: BaseException) -> StorageInternalError:
    try:
        raise StorageInternalError("An exception is raised during the commit.") from cause
    except StorageInternalError as exc:
        return exc


def test_a_wrapped_creation_race_is_tried_again_until_it_succeeds() -> None:
    calls: list[int] = []

    def create() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise _wrapped(ProgrammingError("SELECT", {}, Exception('relation "version_info" does not exist')))
        return "storage"

    assert _retry_creation(create) == "storage"
    assert len(calls) == 3


def test_other_errors_are_not_retried() -> None:
    calls: list[int] = []

    def create() -> None:
        calls.append(1)
        raise ValueError("not a database error")

    with pytest.raises(ValueError):
        _retry_creation(create)
    assert len(calls) == 1


def test_creation_race_classification() -> None:
    assert _creation_race(IntegrityError("INSERT", {}, Exception("duplicate key")))
    assert _creation_race(_wrapped(ProgrammingError("SELECT", {}, Exception("x"))))
    assert not _creation_race(_wrapped(OperationalError("SELECT", {}, Exception("server closed"))))
    assert not _creation_race(StorageInternalError("no cause"))


def test_describe_cause_shows_the_database_answer_without_a_password() -> None:
    cause = OperationalError("SELECT", {}, Exception("connection to postgresql://u:secret@h/db failed\nmore"))
    text = describe_cause(_wrapped(cause))
    assert text.startswith("StorageInternalError: An exception is raised during the commit.")
    assert "(caused by OperationalError: " in text and "connection to" in text
    assert "secret" not in text and "more" not in text
    assert describe_cause(ValueError("plain")) == "ValueError: plain"
    assert describe_cause(ValueError()) == "ValueError"
