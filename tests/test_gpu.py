"""The CUDA path: same maths as the CPU, data held on the device, no host round trips per batch.

Every test here needs a CUDA device and is skipped, with the reason, on CPU-only machines.
"""

from __future__ import annotations

import pytest
import torch

from facerbm.rbm import RBM, RBMConfig
from facerbm.rng import make_generator
from facerbm.train import TrainConfig, Trainer

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA device on this machine (the GPU path is tested on one)"
)


def _low_rank_data(n: int, v: int, rank: int, device) -> torch.Tensor:
    g = torch.Generator().manual_seed(5)
    basis = torch.randn(rank, v, generator=g)
    codes = torch.randn(n, rank, generator=g)
    x = codes @ basis + 0.1 * torch.randn(n, v, generator=g)
    return ((x - x.mean(0)) / x.std(0)).to(device)


@pytest.mark.parametrize("hidden", ["binary", "nrelu"])
def test_free_energy_and_conditionals_match_the_cpu(hidden):
    cpu = RBM(RBMConfig(30, 12, hidden=hidden))
    cpu.reset_parameters(make_generator(1), std=0.3)
    gpu = RBM(RBMConfig(30, 12, hidden=hidden), device="cuda")
    gpu.load_state_dict(cpu.state_dict())
    v = torch.randn(64, 30, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(gpu.free_energy(v.cuda()).cpu(), cpu.free_energy(v), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(gpu.mean_hidden(v.cuda()).cpu(), cpu.mean_hidden(v), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("hidden", ["binary", "nrelu"])
def test_training_on_cuda_learns_and_stays_on_the_device(hidden):
    data = _low_rank_data(2000, 64, 4, "cuda")
    model = RBM(RBMConfig(64, 16, hidden=hidden), device="cuda")
    g = make_generator(0, "cuda")
    model.reset_parameters(g, visible_mean=data.mean(0))
    trainer = Trainer(model, TrainConfig(epochs=15, batch_size=50, lr=5e-3), g)
    before = float(((data - model.reconstruct(data)) ** 2).mean())
    for _ in range(15):
        trainer.fit_epoch(data, data[:500], None)
    after = float(((data - model.reconstruct(data)) ** 2).mean())
    assert after < 0.25 * before, (before, after)
    for name, p in (("W", model.W), ("b", model.b), ("c", model.c), ("vel_W", trainer.vel_W)):
        assert p.is_cuda, name


def test_the_cd_step_never_synchronizes_with_the_host():
    """No per-batch copies or reads back: the inner step must queue work without waiting."""
    data = _low_rank_data(1000, 64, 4, "cuda")
    model = RBM(RBMConfig(64, 16, hidden="nrelu"), device="cuda")
    g = make_generator(0, "cuda")
    model.reset_parameters(g, visible_mean=data.mean(0))
    trainer = Trainer(model, TrainConfig(batch_size=100, sparsity_target=0.1), g)
    perm = torch.randperm(1000, generator=g, device="cuda")
    out = torch.empty(10, device="cuda")
    trainer._step(data, perm[:100], 1e-3, 0.5, out=out[0])  # buffers allocated outside the check
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for i in range(1, 10):
            trainer._step(data, perm[i * 100 : (i + 1) * 100], 1e-3, 0.5, out=out[i])
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert bool(torch.isfinite(out).all())


def test_a_run_trained_on_cuda_loads_on_the_cpu(tmp_path):
    from facerbm.checkpoint import load_model
    from facerbm.run import DataConfig, train_run

    metrics = train_run(
        tmp_path / "run",
        DataConfig(source="sample"),
        {"n_hidden": 32},
        TrainConfig(epochs=2),
        device="cuda",
        progress=False,
    )
    assert metrics["final"]["recon_mse_heldout"] < 0.5 * metrics["mean_face_mse_heldout"]
    model, _, _ = load_model(tmp_path / "run", device="cpu")
    assert model.W.device.type == "cpu"
