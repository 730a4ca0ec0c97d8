"""facerbm: continuous restricted Boltzmann machines that learn facial features."""

__version__ = "0.1.0"
