"""Saving and loading models and training state: safetensors + JSON, atomic, never pickle.

A run folder holds
* ``model.safetensors`` (W, b, c and the preprocessing statistics) and ``config.json``
  (configs, data options, versions): the trained model;
* ``checkpoint.safetensors``: model, velocities, RNG state and history in one file (the JSON part
  lives in the safetensors header), so a kill at any moment leaves the old or the new checkpoint,
  never a mix.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

import facerbm
from facerbm.fileio import atomic_write_bytes, atomic_write_json
from facerbm.preprocess import Normalizer
from facerbm.rbm import RBM, RBMConfig

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
CHECKPOINT_FILE = "checkpoint.safetensors"


def versions() -> dict:
    return {"facerbm": facerbm.__version__, "torch": torch.__version__}


def _model_tensors(model: RBM, normalizer: Normalizer) -> dict[str, torch.Tensor]:
    tensors = {"W": model.W, "b": model.b, "c": model.c, **normalizer.state_dict()}
    return {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in tensors.items()}


def save_model(run_dir: str | Path, model: RBM, normalizer: Normalizer, meta: dict) -> None:
    """Write ``model.safetensors`` and ``config.json`` into ``run_dir``.

    ``meta`` holds JSON-able extras (train config, data options, image shape, metrics summary).
    """
    run_dir = Path(run_dir)
    config = {
        "format": "facerbm-model",
        "format_version": FORMAT_VERSION,
        "versions": versions(),
        "rbm": model.config.to_dict(),
        "normalize": normalizer.to_dict(),
        **meta,
    }
    blob = st_save(_model_tensors(model, normalizer), metadata={"format": "facerbm-model"})
    atomic_write_bytes(run_dir / MODEL_FILE, blob)
    atomic_write_json(run_dir / CONFIG_FILE, config)


def _read_tensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} does not exist: is this a facerbm run folder?") from None
    try:
        tensors = st_load(data)
        header_len = int.from_bytes(data[:8], "little")
        header = json.loads(data[8 : 8 + header_len])
    except (SafetensorError, ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is corrupt or truncated ({e}); retrain or restore it") from None
    return tensors, header.get("__metadata__", {}) or {}


def _check_shapes(path: Path, cfg: RBMConfig, tensors: dict[str, torch.Tensor]) -> None:
    V, H = cfg.n_visible, cfg.n_hidden
    expected = {"W": (V, H), "b": (V,), "c": (H,), "normalize.mean": (V,), "normalize.std": (V,)}
    for name, shape in expected.items():
        if name not in tensors:
            raise ValueError(f"{path} lacks tensor {name!r}")
        if tuple(tensors[name].shape) != shape:
            raise ValueError(
                f"{path}: tensor {name!r} has shape {tuple(tensors[name].shape)}, "
                f"but the config says {shape} (n_visible={V}, n_hidden={H})"
            )
        if not bool(torch.isfinite(tensors[name]).all()):
            raise ValueError(f"{path}: tensor {name!r} holds NaN or inf values")


def _build(cfg_dict: dict, tensors: dict, path: Path, device) -> tuple[RBM, Normalizer]:
    try:
        cfg = RBMConfig(**cfg_dict["rbm"])
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{path}: invalid model config ({e})") from None
    _check_shapes(path, cfg, tensors)
    model = RBM(cfg, device=device)
    with torch.no_grad():
        for name in ("W", "b", "c"):
            getattr(model, name).copy_(tensors[name])
    try:
        normalizer = Normalizer.from_state(cfg_dict["normalize"], tensors)
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{path}: invalid normalize settings in its config ({e!r})") from None
    return model, normalizer


def load_model(run_dir: str | Path, device="cpu") -> tuple[RBM, Normalizer, dict]:
    """Load a trained model from a run folder (or its ``model.safetensors`` path).

    Returns:
        (model, normalizer, config dict). Executes no code from the files.

    Raises:
        FileNotFoundError: the files are missing.
        ValueError: a file is corrupt, or the config does not match the tensors or this version.
    """
    given = run_dir = Path(run_dir)
    if run_dir.is_file():
        if run_dir.name not in (MODEL_FILE, CONFIG_FILE, CHECKPOINT_FILE):
            raise FileNotFoundError(
                f"{given} is a file, not a run folder: pass the folder that 'facerbm train' wrote"
            )
        run_dir = run_dir.parent
    elif not run_dir.exists():
        raise FileNotFoundError(f"run folder {given} does not exist")
    cfg_path = run_dir / CONFIG_FILE
    if not cfg_path.exists() and (run_dir / CHECKPOINT_FILE).exists():
        # A run that diverged or was killed has no final model yet, but its last good checkpoint
        # is a complete model too.
        log.warning("%s has no %s; loading its last checkpoint instead", run_dir, CONFIG_FILE)
        model, normalizer, _, state = load_checkpoint(run_dir, device=device)
        return model, normalizer, state
    try:
        cfg = json.loads(cfg_path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{cfg_path} does not exist: is {run_dir} a facerbm run folder (made by 'facerbm train')?"
        ) from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{cfg_path} is not valid JSON ({e}); it may be truncated") from None
    if cfg.get("format") != "facerbm-model":
        raise ValueError(f"{cfg_path} is not a facerbm model config (format={cfg.get('format')!r})")
    if cfg.get("format_version", 0) > FORMAT_VERSION:
        raise ValueError(
            f"{cfg_path} has format_version {cfg['format_version']}, newer than this "
            f"facerbm ({facerbm.__version__}) reads ({FORMAT_VERSION}); upgrade facerbm"
        )
    tensors, _ = _read_tensors(run_dir / MODEL_FILE)
    model, normalizer = _build(cfg, tensors, run_dir / MODEL_FILE, device)
    _check_image_shape(cfg_path, cfg, model.config.n_visible)
    return model, normalizer, cfg


def _check_image_shape(path: Path, cfg: dict, n_visible: int) -> None:
    """config.json's image_shape must be (H, W) or (H, W, 3) with H·W(·3) = n_visible."""
    if "image_shape" not in cfg:  # models saved outside a run need not say
        return
    shape = cfg["image_shape"]
    ok = (
        isinstance(shape, list)
        and len(shape) in (2, 3)
        and all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape)
        and (len(shape) == 2 or shape[2] == 3)
    )
    if not ok:
        raise ValueError(f"{path}: image_shape must be [height, width] or [height, width, 3], got {shape!r}")
    if math.prod(shape) != n_visible:
        raise ValueError(
            f"{path}: image_shape {shape} has {math.prod(shape)} pixels, but the model has "
            f"n_visible={n_visible}"
        )


def save_checkpoint(
    run_dir: str | Path,
    model: RBM,
    normalizer: Normalizer,
    train_tensors: dict[str, torch.Tensor],
    state: dict,
) -> None:
    """Write the full training state atomically as one ``checkpoint.safetensors``.

    ``state`` is JSON-able: configs, epoch, history, data split. It is stored in the header.
    """
    tensors = _model_tensors(model, normalizer)
    tensors.update({k: v.detach().cpu().contiguous() for k, v in train_tensors.items()})
    state = {
        "format": "facerbm-checkpoint",
        "format_version": FORMAT_VERSION,
        "versions": versions(),
        "rbm": model.config.to_dict(),
        "normalize": normalizer.to_dict(),
        **state,
    }
    blob = st_save(tensors, metadata={"state": json.dumps(state)})
    atomic_write_bytes(Path(run_dir) / CHECKPOINT_FILE, blob)


def _state(path: Path, meta: dict) -> dict:
    try:
        return json.loads(meta["state"])
    except (KeyError, json.JSONDecodeError):
        raise ValueError(f"{path} has no readable training state; it is not a facerbm checkpoint") from None


def read_checkpoint_state(run_dir: str | Path) -> dict:
    """The JSON training state of ``checkpoint.safetensors`` (configs, seed, epoch, history)."""
    path = Path(run_dir) / CHECKPOINT_FILE
    return _state(path, _read_tensors(path)[1])


def load_checkpoint(run_dir: str | Path, device="cpu"):
    """Read ``checkpoint.safetensors``: returns (model, normalizer, train tensors, state dict)."""
    path = Path(run_dir) / CHECKPOINT_FILE
    tensors, meta = _read_tensors(path)
    state = _state(path, meta)
    model, normalizer = _build(state, tensors, path, device)
    _check_image_shape(path, state, model.config.n_visible)
    train_tensors = {k: v for k, v in tensors.items() if k.startswith("train.")}
    return model, normalizer, train_tensors, state
