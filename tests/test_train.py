"""The CD training loop: the fast update equals the textbook one, it learns, it is reproducible."""

import math

import pytest
import torch

from facerbm import units
from facerbm.rbm import RBM, RBMConfig
from facerbm.rng import make_generator
from facerbm.train import DivergenceError, TrainConfig, Trainer


def low_rank_data(n=3000, V=64, K=4, noise=0.1, seed=0):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(K, V, generator=g)
    X = torch.randn(n, K, generator=g) @ A + noise * torch.randn(n, V, generator=g)
    return (X - X.mean(0)) / X.std(0)


def make(V=64, H=16, hidden="nrelu", seed=0, visible="gaussian", sigma=1.0, **train):
    g = make_generator(seed)
    model = RBM(RBMConfig(V, H, hidden=hidden, visible=visible, sigma=sigma))
    model.reset_parameters(g)
    return model, Trainer(model, TrainConfig(**train), g), g


def reference_cd_step(model, v0, lr, mom, vel, cfg, g):
    """Textbook CD-k, written plainly, drawing random numbers in the trainer's order."""
    W, b, c, s = model.W.clone(), model.b.clone(), model.c.clone(), model.sigma
    hidden, gaussian = model.config.hidden, model.config.visible == "gaussian"
    B = v0.shape[0]
    p0 = units.hidden_mean(c + v0 @ W / s, hidden)
    x = c + v0 @ W / s
    for _ in range(cfg.k):
        if hidden == "binary":
            h = (torch.rand(x.shape, generator=g) < torch.sigmoid(x)).float()
        else:
            h = torch.relu(x + torch.randn(x.shape, generator=g) * torch.sigmoid(x).sqrt())
        vk = b + s * h @ W.T
        if not gaussian:
            vk = torch.sigmoid(vk)
        if cfg.sample_visible:
            vk = (
                vk + s * torch.randn(vk.shape, generator=g)
                if gaussian
                else (torch.rand(vk.shape, generator=g) < vk).float()
            )
        x = c + vk @ W / s
    pk = units.hidden_mean(x, hidden)
    dW = (v0.T @ p0 - vk.T @ pk) / (B * s) - cfg.weight_decay * W
    db = (v0 - vk).mean(0) / (s**2 if gaussian else 1.0)
    dc = (p0 - pk).mean(0)
    vel = [mom * vel[0] + lr * dW, mom * vel[1] + lr * db, mom * vel[2] + lr * dc]
    return W + vel[0], b + vel[1], c + vel[2], vel


@pytest.mark.parametrize("hidden", ["nrelu", "binary"])
@pytest.mark.parametrize(
    "k,sample_visible,visible,sigma",
    [(1, False, "gaussian", 1.0), (2, True, "gaussian", 0.5), (1, True, "bernoulli", 1.0)],
)
def test_fast_update_equals_textbook_cd(hidden, k, sample_visible, visible, sigma):
    model, trainer, g = make(
        hidden=hidden,
        k=k,
        sample_visible=sample_visible,
        visible=visible,
        sigma=sigma,
        weight_decay=1e-3,
    )
    data = low_rank_data(n=40)
    if visible == "bernoulli":
        data = torch.sigmoid(data)
    vel = [torch.zeros_like(model.W), torch.zeros_like(model.b), torch.zeros_like(model.c)]
    ref_g = make_generator(99)
    trainer.generator = make_generator(99)
    for step, idx in enumerate([torch.arange(0, 25), torch.arange(25, 40)]):  # ragged 2nd batch
        W, b, c, vel = reference_cd_step(model, data[idx], 0.01, 0.5 + 0.3 * step, vel, trainer.config, ref_g)
        trainer._step(data, idx, 0.01, 0.5 + 0.3 * step)
        torch.testing.assert_close(model.W, W, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(model.b, b, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(model.c, c, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("hidden", ["nrelu", "binary"])
def test_cd_learns_low_rank_structure(hidden):
    # Data: 4 latent factors in 64 dimensions plus 1% noise variance, standardized (variance 1).
    data = low_rank_data()
    train, held = data[:2500], data[2500:]
    model, trainer, _ = make(hidden=hidden, H=32, epochs=15, lr=2e-3, batch_size=50)
    first = trainer.evaluate(train[:500], held)
    for _ in range(15):
        m = trainer.fit_epoch(train, train[:500], held)
    assert first["recon_mse_heldout"] > 0.9  # an untrained model reconstructs ~ the mean
    # A rank-4 model can reach the 1% noise floor; binary units are coarser than NReLU.
    assert m["recon_mse_heldout"] < (0.05 if hidden == "nrelu" else 0.25)
    assert abs(m["free_energy_gap"]) < 2.0  # no overfitting on 2,500 images of 64 pixels
    assert len(trainer.history) == 15 and trainer.history[-1]["epoch"] == 15


def test_same_seed_same_model_bit_for_bit_and_other_seed_differs():
    data = low_rank_data(n=500)

    def fit(seed):
        model, trainer, _ = make(seed=seed, epochs=3)
        for _ in range(3):
            trainer.fit_epoch(data, data[:100], None)
        return model.W.clone()

    a, b, c = fit(0), fit(0), fit(1)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_resume_from_state_tensors_gives_the_same_model():
    data = low_rank_data(n=500)
    model, trainer, _ = make(epochs=4, persistent=True)
    for _ in range(4):
        trainer.fit_epoch(data, data[:100], None)

    model2, trainer2, _ = make(epochs=4, persistent=True)
    for _ in range(2):
        trainer2.fit_epoch(data, data[:100], None)
    saved_params = {k: p.clone() for k, p in model2.state_dict().items()}
    saved = {k: v.clone() for k, v in trainer2.state_tensors().items()}
    model3, trainer3, _ = make(seed=123, epochs=4, persistent=True)  # different seed: all restored
    model3.load_state_dict(saved_params)
    trainer3.load_state_tensors(saved, trainer2.epoch, trainer2.history)
    for _ in range(2):
        trainer3.fit_epoch(data, data[:100], None)
    assert torch.equal(model.W, model3.W) and torch.equal(model.c, model3.c)
    assert [h["recon_mse_train"] for h in trainer.history] == [h["recon_mse_train"] for h in trainer3.history]


def test_divergence_stops_with_epoch_batch_parameter_and_rolls_back():
    data = low_rank_data(n=400) * 50  # far from the units' sigma: a large lr explodes
    model, trainer, _ = make(epochs=5, lr=5.0, momentum=0.9, initial_momentum=0.9)
    with pytest.raises(DivergenceError) as info:
        for _ in range(5):
            trainer.fit_epoch(data, data[:100], None)
    err = info.value
    assert err.epoch >= 1 and err.batch is None or err.batch >= 1
    assert "lower learning rate" in str(err)
    assert all(bool(torch.isfinite(p).all()) for p in model.parameters())
    assert trainer.epoch == err.epoch - 1


def test_lr_schedules():
    cfg = TrainConfig(epochs=4, lr=1.0, lr_schedule="linear")
    assert [cfg.lr_at(e) for e in range(4)] == [1.0, 0.75, 0.5, 0.25]
    cfg = TrainConfig(epochs=4, lr=1.0, lr_schedule="cosine")
    assert cfg.lr_at(0) == 1.0 and cfg.lr_at(2) == pytest.approx(0.5)
    assert TrainConfig(momentum_epochs=2).momentum_at(1) == 0.5
    assert TrainConfig(momentum_epochs=2).momentum_at(2) == 0.9


def test_sparsity_target_lowers_mean_activity():
    data = low_rank_data(n=1000)

    def activity(target):
        model, trainer, _ = make(
            hidden="binary", epochs=8, sparsity_target=target, sparsity_cost=5.0, lr=2e-3
        )
        for _ in range(8):
            m = trainer.fit_epoch(data, data[:500], None)
        return m["mean_hidden"]

    assert activity(0.05) < activity(None) - 0.1


@pytest.mark.parametrize(
    "kwargs,name",
    [
        ({"epochs": 0}, "epochs"),
        ({"batch_size": -1}, "batch_size"),
        ({"lr": 0}, "lr"),
        ({"lr": math.inf}, "lr"),
        ({"momentum": 1.0}, "momentum"),
        ({"k": 0}, "k"),
        ({"lr_schedule": "step"}, "lr_schedule"),
        ({"weight_decay": -1}, "weight_decay"),
        ({"sparsity_target": 0}, "sparsity_target"),
    ],
)
def test_train_config_rejects_bad_values(kwargs, name):
    with pytest.raises(ValueError, match=name):
        TrainConfig(**kwargs)
