import pytest

from modelops_contracts import ContractViolationError, TargetEvaluation, TargetEvaluator


def test_evaluation_is_frozen_and_normalised():
    ev = TargetEvaluation(3, {"cases": 1.0, "deaths": 2}, [{"cases": 1.0}], {"n": 3})
    assert ev.loss == 3.0 and isinstance(ev.loss, float)
    assert ev.target_losses["deaths"] == 2.0
    assert ev.replicate_losses == ({"cases": 1.0},)
    with pytest.raises(TypeError):
        ev.target_losses["x"] = 1.0  # type: ignore[index]


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), True, "1"])
def test_loss_must_be_finite(bad):
    with pytest.raises(ContractViolationError):
        TargetEvaluation(bad)


def test_target_losses_must_be_finite():
    with pytest.raises(ContractViolationError, match="cases"):
        TargetEvaluation(1.0, {"cases": float("nan")})
    with pytest.raises(ContractViolationError, match=r"replicate_losses\[1\]"):
        TargetEvaluation(1.0, {}, [{"a": 1.0}, {"a": float("inf")}])


def test_protocol():
    class E:
        def evaluate(self, replicates):
            return TargetEvaluation(float(len(replicates)))

    assert isinstance(E(), TargetEvaluator)
    assert E().evaluate([{}, {}]).loss == 2.0
