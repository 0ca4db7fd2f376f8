"""calabaria: the science of calibration.

- :mod:`calabaria.parameters`: parameter spaces (float, log, int, categorical, fixed values);
- :mod:`calabaria.losses` and :mod:`calabaria.alignment`: comparing simulated with observed data;
- :mod:`calabaria.targets`: targets and :class:`TargetSet` (a ``modelops_contracts.TargetEvaluator``);
- :mod:`calabaria.algorithms`: :class:`OptunaAlgorithm` and :class:`SweepAlgorithm` (ask/tell);
- :mod:`calabaria.model`: :class:`BaseModel` for class-based models with scenarios.

calabaria never imports modelops: the runtime loads these by ``"module:attr"`` reference.
"""

from .model import BaseModel
from .parameters import ParameterError, ParameterSpace
from .targets import Target, TargetError, TargetSet

__version__ = "0.1.0"

__all__ = ["BaseModel", "ParameterError", "ParameterSpace", "Target", "TargetError", "TargetSet"]
