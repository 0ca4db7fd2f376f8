"""Deterministic seeds.

Seeds are unsigned 64-bit integers. A replicate's seed is derived from the parameter set's id, the replicate's index
and the study's base seed, so the same study always runs the same simulations, whatever order or machine they run
on, and different parameter sets never share a random stream by accident.

    derive_seed(param_id, i, base_seed) =
        int.from_bytes(BLAKE2b(digest_size=8) of "contracts:seed:v1|{base_seed}|{param_id}|{i}", "little")

BLAKE2b's output is uniform, so the seeds are uniform over 0..2**64-1.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import ContractViolationError

UINT64_MAX = 2**64 - 1
SEED_PREFIX = "contracts:seed:v1|"


def _check_seed(value: object, name: str) -> int:
    if type(value) is not int:  # bool and numpy ints are refused: seeds must be plain ints
        raise ContractViolationError(f"{name} must be integers, got {type(value).__name__} {value!r}")
    if not 0 <= value <= UINT64_MAX:
        raise ContractViolationError(f"{name} {value} is out of uint64 range (0..2**64-1)")
    return value


def derive_seed(param_id: str, replicate_index: int, base_seed: int = 0) -> int:
    """The uint64 seed of replicate ``replicate_index`` of parameter set ``param_id`` under ``base_seed``."""
    if not isinstance(param_id, str) or not param_id:
        raise ContractViolationError("derive_seed needs a non-empty param_id")
    _check_seed(base_seed, "base_seed")
    if type(replicate_index) is not int or replicate_index < 0:
        raise ContractViolationError(f"replicate_index must be a non-negative int, got {replicate_index!r}")
    text = f"{SEED_PREFIX}{base_seed}|{param_id}|{replicate_index}"
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


@dataclass(frozen=True)
class SeedInfo:
    """The seeds of one trial: the study's base seed, the trial's seed and one seed per replicate."""

    base_seed: int
    trial_seed: int
    replicate_seeds: Sequence[int] = ()

    def __post_init__(self) -> None:
        _check_seed(self.base_seed, "seeds")
        _check_seed(self.trial_seed, "seeds")
        seeds = tuple(self.replicate_seeds)
        for seed in seeds:
            _check_seed(seed, "seeds")
        object.__setattr__(self, "replicate_seeds", seeds)

    @classmethod
    def for_replicates(cls, param_id: str, n_replicates: int, base_seed: int = 0) -> SeedInfo:
        """The seeds :func:`derive_seed` gives replicates 0..n-1 of ``param_id``."""
        seeds = tuple(derive_seed(param_id, i, base_seed) for i in range(n_replicates))
        trial_seed = derive_seed(param_id, 0, base_seed) if n_replicates == 0 else seeds[0]
        return cls(base_seed=base_seed, trial_seed=trial_seed, replicate_seeds=seeds)
