"""Which torch devices facerbm can run on, checked before anything is allocated."""

from __future__ import annotations

import torch


def check_device(device) -> str:
    """Validate a device name; returns it as a string.

    Raises:
        ValueError: not 'cpu', 'cuda' or 'cuda:N', or CUDA (that GPU) is not available here.
    """
    text = str(device)
    try:
        dev = torch.device(text)
    except (RuntimeError, TypeError):
        dev = None
    if dev is None or dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {text!r}")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device={text!r} but CUDA is not available here; use device='cpu'")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"device={text!r} but this machine has {torch.cuda.device_count()} CUDA device(s)"
            )
    return text
