from concurrent.futures import Future

from modelops_contracts import (
    AdaptiveAlgorithm,
    FutureLike,
    SimulationService,
    TrialResult,
    UniqueParameterSet,
)


class _FirstProtocolAlgo:
    def __init__(self):
        self.told: dict[str, TrialResult] = {}

    def ask(self, n):
        return [UniqueParameterSet.from_dict({"i": i}) for i in range(n)]

    def tell(self, results):
        for r in results:
            self.told.setdefault(r.param_id, r)

    def finished(self):
        return len(self.told) >= 2


class _Algo(_FirstProtocolAlgo):
    budget_option = "n_trials"

    def budget(self):
        return 2

    def close(self):
        pass


class _Service:
    def submit(self, fn_ref, params, seed, *, bundle_ref=None):
        f = Future()
        f.set_result({"out": b""})
        return f

    def gather(self, futures):
        return [f.result() for f in futures]


def test_runtime_checkable_protocols():
    assert isinstance(_Algo(), AdaptiveAlgorithm)
    assert isinstance(_Service(), SimulationService)
    assert isinstance(Future(), FutureLike)
    assert not isinstance(object(), AdaptiveAlgorithm)
    # ask/tell/finished alone is the first protocol: a runtime adapts it (modelops.runner.algorithm), the check
    # says it lacks budget_option, budget and close.
    assert not isinstance(_FirstProtocolAlgo(), AdaptiveAlgorithm)
    assert not isinstance(object(), SimulationService)


def test_contracts_import_only_the_standard_library():
    import subprocess
    import sys

    code = (
        "import sys; import modelops_contracts; "
        "bad = [m for m in ('numpy','polars','pyarrow','pydantic','modelops','calabaria') if m in sys.modules]; "
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
