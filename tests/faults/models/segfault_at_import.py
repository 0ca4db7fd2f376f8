"""A model module that segfaults as it is imported."""

import ctypes

ctypes.string_at(0)


def simulate(params, seed):  # pragma: no cover - never reached
    return {}
