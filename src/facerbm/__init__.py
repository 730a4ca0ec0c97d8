"""facerbm: continuous restricted Boltzmann machines that learn facial features."""

__version__ = "0.1.0"

from facerbm.estimator import FaceRBM  # noqa: E402
from facerbm.rbm import RBM, RBMConfig  # noqa: E402
from facerbm.train import DivergenceError, TrainConfig, Trainer  # noqa: E402

__all__ = ["RBM", "DivergenceError", "FaceRBM", "RBMConfig", "TrainConfig", "Trainer", "__version__"]
