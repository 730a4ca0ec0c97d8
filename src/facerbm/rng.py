"""The one place where a seed becomes random generators."""

from __future__ import annotations

import torch


def make_generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A `torch.Generator` on ``device`` seeded with ``seed``; library code never seeds globally."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return torch.Generator(device=torch.device(device)).manual_seed(seed)


def split_seed(seed: int, stream: int) -> int:
    """A seed for an independent stream (data split, training, sampling) derived from ``seed``."""
    return (seed * 1_000_003 + stream * 7_919) % (2**63 - 1)
