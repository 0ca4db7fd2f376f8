"""The runner's side of the algorithm seam (modelops_contracts.AdaptiveAlgorithm).

An algorithm is built by reference, ``Factory(space, *, storage, study_name, seed, **options)``. The protocol's
later members (``budget_option``, ``budget()``, ``close()``) are optional in practice: an algorithm written against
the first protocol (ask/tell/finished) is wrapped in :class:`LegacyAlgorithm`, which supplies their defaults, so
the driver always talks to a complete :class:`~modelops_contracts.AdaptiveAlgorithm`.
"""

from __future__ import annotations

from typing import ClassVar

from modelops_contracts import AdaptiveAlgorithm, TrialResult, UniqueParameterSet

# What a study calls its budget, and the constructor option it goes to unless the algorithm names another.
STUDY_BUDGET = "n_trials"


class AlgorithmError(ValueError):
    """The object a reference built is not an algorithm; the message says what it lacks."""


class AlgorithmLoadError(RuntimeError):
    """The algorithm's module could not be imported (or raised as it was): a failure of its code, not of the spec."""


def budget_option(factory: object) -> str:
    """The constructor option that takes the study's ``n_trials``: the factory's ``budget_option``, or n_trials.

    Read from the factory (a class, before anything is built), since the option is one of the constructor's own.
    """
    option = getattr(factory, "budget_option", STUDY_BUDGET)  # optional: the first protocol had no such member
    if not isinstance(option, str) or not option.isidentifier():
        raise AlgorithmError(f"budget_option must name a constructor option, got {option!r}")
    return option


class LegacyAlgorithm:
    """An algorithm with ask/tell/finished only: the later protocol members get their defaults.

    ``budget()`` is the algorithm's ``n_trials`` attribute when it has an int one (what runners always read), and
    ``close()`` calls the algorithm's own ``close`` when it has one.
    """

    budget_option: ClassVar[str] = STUDY_BUDGET

    def __init__(self, algorithm: object) -> None:
        self.wrapped = algorithm

    def ask(self, n: int) -> list[UniqueParameterSet]:
        asked: list[UniqueParameterSet] = self.wrapped.ask(n)  # type: ignore[attr-defined]  # checked in adapt()
        return asked

    def tell(self, results: list[TrialResult]) -> None:
        self.wrapped.tell(results)  # type: ignore[attr-defined]

    def finished(self) -> bool:
        return bool(self.wrapped.finished())  # type: ignore[attr-defined]

    def budget(self) -> int | None:
        n = getattr(self.wrapped, "n_trials", None)
        return n if isinstance(n, int) else None

    def close(self) -> None:
        close = getattr(self.wrapped, "close", None)
        if callable(close):
            close()


def adapt(algorithm: object, ref: str) -> AdaptiveAlgorithm:
    """``algorithm`` as a complete AdaptiveAlgorithm (itself when it is one); AlgorithmError if it has no ask/tell."""
    missing = [m for m in ("ask", "tell") if not callable(getattr(algorithm, m, None))]
    if missing:
        raise AlgorithmError(
            f"algorithm {ref!r} has no {' or '.join(missing)} method; an algorithm is an object "
            "with ask(n) -> parameter sets and tell(results) (see calabaria.algorithms for examples)"
        )
    if not callable(getattr(algorithm, "finished", None)):
        raise AlgorithmError(
            f"algorithm {ref!r} has no finished method; the runner asks finished() -> bool to know when the study "
            "is done (see calabaria.algorithms for examples)"
        )
    if isinstance(algorithm, AdaptiveAlgorithm):
        return algorithm
    return LegacyAlgorithm(algorithm)
