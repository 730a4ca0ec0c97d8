"""Speed of facerbm's CD-1 training against this machine's matmul peak and against peer libraries.

    python benchmarks/speed.py                 # full run on LFW (a few minutes on 2 cores)
    python benchmarks/speed.py --quick         # smoke run: fewer repeats and sizes
    python benchmarks/speed.py --device cuda   # the same on a GPU (data held on the device)

One CD-1 step on a batch costs 10·V·H flops per image: three (B, V) x (V, H)-sized products (v⁰W,
hWᵀ, vᵏW) and the weight gradient [v⁰; vᵏ]ᵀ[p⁰; −pᵏ], which has twice their size. That is the floor
on the work, so the fraction of the machine's peak float32 matmul rate an epoch reaches says how much
time goes elsewhere. The peak is measured in the same run, right before each timed epoch (best of a
few square matmuls), because a shared or virtual machine's speed drifts from minute to minute;
each run's fraction is taken against the peak measured next to it, and the table shows medians.

Contenders, all on the same images, one epoch each, interleaved round by round:
  * facerbm, binary and NReLU hidden units (Gaussian visible, standardized pixels): `Trainer.run_epoch`;
  * a plain torch CD-1 loop as one would first write it (binary hidden units, no momentum);
  * scikit-learn's `BernoulliRBM.fit` with ``n_iter=1`` on float32 pixels scaled to [0, 1];
  * learnergy's `GaussianRBM.fit` for one epoch, where learnergy is installed.
Beside them, a ceiling: the four products of each CD-1 step alone, with facerbm's shapes and calls and
nothing else in between, for the same batches. No CD-1 epoch at this batch size can beat it with this
BLAS, so "% of ceiling" says how much of what the BLAS allows facerbm's epoch gets; the gap between the
ceiling and the square-matmul peak is the BLAS's own loss on products with a short (batch) side.
Scaling figures (facerbm NReLU, the default) show how an epoch grows with hidden units and batch size.

Writes benchmarks/results/speed-<date>.json (or --json PATH) and prints a markdown table.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "lfw-deepfunneled.tgz"
RESULTS = REPO / "benchmarks" / "results"

HIDDEN_UNITS = 500
BATCH_SIZE = 100
SEED = 0
SCALING_HIDDEN = (100, 250, 500, 1000, 2000)
SCALING_BATCH = (10, 30, 100, 300, 1000)
QUICK_HIDDEN = (100, 500)
QUICK_BATCH = (30, 100)
PEERS = ("plain", "sklearn", "learnergy")
CEILING = "CD-1 products alone (ceiling)"


def cd1_flops_per_image(V: int, H: int) -> int:
    """Flops of one CD-1 update per image: 3 products of 2·V·H and a gradient of 4·V·H."""
    return 10 * V * H


# -- the machine's peak -----------------------------------------------------------------------------
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class TorchPeak:
    """Best-of-``tries`` rate of an n x n float32 matmul on ``device``, in GFLOP/s."""

    def __init__(self, n: int, device: torch.device, tries: int = 2):
        g = torch.Generator(device=device).manual_seed(SEED)
        self.a = torch.randn(n, n, generator=g, device=device)
        self.b = torch.randn(n, n, generator=g, device=device)
        self.c = torch.empty(n, n, device=device)
        self.n, self.device, self.tries = n, device, tries
        torch.mm(self.a, self.b, out=self.c)  # warm up
        _sync(device)

    def __call__(self) -> float:
        best = math.inf
        for _ in range(self.tries):
            t0 = time.perf_counter()
            torch.mm(self.a, self.b, out=self.c)
            _sync(self.device)
            best = min(best, time.perf_counter() - t0)
        return 2 * self.n**3 / best / 1e9


def numpy_peak(n: int, tries: int = 3) -> float:
    """Best-of-``tries`` rate of an n x n float32 ``np.matmul`` on the host, in GFLOP/s."""
    rng = np.random.default_rng(SEED)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    c = np.empty((n, n), dtype=np.float32)
    np.matmul(a, b, out=c)
    best = math.inf
    for _ in range(tries):
        t0 = time.perf_counter()
        np.matmul(a, b, out=c)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


# -- contenders: each prepares once and then times one epoch per call -----------------------------
class FacerbmEpoch:
    """facerbm's `Trainer.run_epoch` (the training pass; evaluation is separate)."""

    def __init__(self, data: torch.Tensor, hidden: str, H: int, batch_size: int):
        from facerbm.rbm import RBM, RBMConfig
        from facerbm.rng import make_generator
        from facerbm.train import TrainConfig, Trainer

        g = make_generator(SEED, data.device)
        model = RBM(RBMConfig(data.shape[1], H, hidden=hidden), device=data.device)
        model.reset_parameters(g, visible_mean=data.mean(0))
        # facerbm's defaults; run_epoch leaves the epoch count (and so lr and momentum) where it is.
        # Smaller batches take more steps per epoch, so the step shrinks with them (the same
        # step per image as at batch 100); at batch 10 the default step makes NReLU units run away.
        lr = TrainConfig.lr * min(1.0, batch_size / BATCH_SIZE)
        cfg = TrainConfig(batch_size=batch_size, lr=lr)
        self.trainer, self.data = Trainer(model, cfg, g), data
        self.trainer.run_epoch(data[: 4 * batch_size])  # warm up: buffers, thread pools

    def __call__(self) -> float:
        seconds, _ = self.trainer.run_epoch(self.data)
        return seconds


class ProductsAlone:
    """The four matmuls of each of facerbm's CD-1 steps (v⁰W, hWᵀ, vᵏW and the weight gradient), with
    its calls, shapes and batches, back to back: an epoch of nothing but the products."""

    def __init__(self, data: torch.Tensor, H: int, batch_size: int):
        N, V = data.shape
        dev = data.device
        g = torch.Generator(device=dev).manual_seed(SEED)
        self.W = 0.01 * torch.randn(V, H, generator=g, device=dev)
        self.vel = torch.zeros(V, H, device=dev)
        self.b, self.c = data.mean(0), torch.zeros(H, device=dev)
        sizes = [batch_size] * (N // batch_size) + ([N % batch_size] if N % batch_size else [])
        # One set of operands per distinct batch size, reused as facerbm reuses its buffers; their
        # values do not change the time.
        operands = {
            B: (
                data[: 2 * B].clone(),
                torch.rand(2 * B, H, generator=g, device=dev),
                torch.empty(B, H, device=dev),
            )
            for B in set(sizes)
        }
        self.batches = [operands[B] for B in sizes]
        self.device = dev
        self()  # warm up

    def __call__(self) -> float:
        W, b, c, vel = self.W, self.b, self.c, self.vel
        t0 = time.perf_counter()
        for vv, pp, x in self.batches:
            B = x.shape[0]
            torch.addmm(c, vv[:B], W, out=x)  # v⁰W
            torch.addmm(b, pp[:B], W.T, out=vv[B:])  # hWᵀ
            torch.addmm(c, vv[B:], W, out=x)  # vᵏW
            vel.addmm_(vv.T, pp, beta=0.9, alpha=1e-6)  # [v⁰; vᵏ]ᵀ[p⁰; −pᵏ]
        _sync(self.device)
        return time.perf_counter() - t0


def plain_cd1_epoch(data, W, b, c, batch_size: int, lr: float, g: torch.Generator) -> None:
    """Textbook CD-1 (Gaussian visible with σ = 1, binary hidden), written the obvious way."""
    N = data.shape[0]
    perm = torch.randperm(N, generator=g, device=data.device)
    for i in range(0, N, batch_size):
        v0 = data[perm[i : i + batch_size]]  # (B, V)
        p0 = torch.sigmoid(v0 @ W + c)  # (B, H)
        h0 = (torch.rand(p0.shape, generator=g, device=data.device) < p0).float()
        v1 = h0 @ W.T + b  # mean-field reconstruction (B, V)
        p1 = torch.sigmoid(v1 @ W + c)
        B = v0.shape[0]
        W += lr * (v0.T @ p0 - v1.T @ p1) / B
        b += lr * (v0 - v1).mean(0)
        c += lr * (p0 - p1).mean(0)


class PlainTorchEpoch:
    def __init__(self, data: torch.Tensor, H: int, batch_size: int):
        self.g = torch.Generator(device=data.device).manual_seed(SEED)
        V = data.shape[1]
        self.W = 0.01 * torch.randn(V, H, generator=self.g, device=data.device)
        self.b = data.mean(0).clone()
        self.c = torch.zeros(H, device=data.device)
        self.data, self.batch_size = data, batch_size
        plain_cd1_epoch(data[: 4 * batch_size], self.W, self.b, self.c, batch_size, 1e-4, self.g)

    def __call__(self) -> float:
        t0 = time.perf_counter()
        plain_cd1_epoch(self.data, self.W, self.b, self.c, self.batch_size, 1e-4, self.g)
        _sync(self.data.device)
        return time.perf_counter() - t0


class SklearnEpoch:
    """``BernoulliRBM(n_iter=1).fit`` on float32 pixels in [0, 1] (its own batching, on the host)."""

    def __init__(self, pixels01: np.ndarray, H: int, batch_size: int):
        from sklearn.neural_network import BernoulliRBM

        self.make = lambda: BernoulliRBM(
            n_components=H, learning_rate=0.01, batch_size=batch_size, n_iter=1, random_state=SEED
        )
        self.x = pixels01
        self.make().fit(pixels01[: 4 * batch_size])

    def __call__(self) -> float:
        rbm = self.make()
        t0 = time.perf_counter()
        rbm.fit(self.x)
        return time.perf_counter() - t0


class LearnergyEpoch:
    """learnergy's ``GaussianRBM.fit`` for one epoch, as the library runs it (its DataLoader, SGD
    step through autograd and per-batch pseudo-likelihood included)."""

    def __init__(self, data: torch.Tensor, H: int, batch_size: int):
        from learnergy.models.gaussian import GaussianRBM
        from torch.utils.data import TensorDataset

        cuda = data.device.type == "cuda"
        self.model = GaussianRBM(
            n_visible=data.shape[1], n_hidden=H, steps=1, learning_rate=1e-4, use_gpu=cuda, normalize=False
        )
        # learnergy samples from torch's global generator; seed it for a repeatable run.
        torch.manual_seed(SEED)
        x = data.cpu()
        self.dataset = TensorDataset(x, torch.zeros(x.shape[0]))
        self.batch_size, self.device = batch_size, data.device
        self.model.fit(TensorDataset(x[: 4 * batch_size], torch.zeros(4 * batch_size)), batch_size, 1)

    def __call__(self) -> float:
        t0 = time.perf_counter()
        self.model.fit(self.dataset, batch_size=self.batch_size, epochs=1)
        _sync(self.device)
        return time.perf_counter() - t0


# -- the run ----------------------------------------------------------------------------------------
def _median(xs) -> float:
    return float(statistics.median(xs))


def _summary(name: str, seconds: list[float], peaks: list[float], N: int, flops: int, **extra) -> dict:
    gflops = [N * flops / s / 1e9 for s in seconds]
    return {
        "name": name,
        "installed": True,
        **extra,
        "seconds": seconds,
        "seconds_per_epoch": _median(seconds),
        "images_per_second": N / _median(seconds),
        "gflops": _median(gflops),
        # Each epoch against the peak measured just before it, then the median.
        "fraction_of_peak": _median([g / p for g, p in zip(gflops, peaks, strict=True)]),
        "peak_gflops_beside": peaks,
    }


def _timed_rounds(contenders: dict, repeats: int, peak: TorchPeak, log) -> dict[str, tuple[list, list]]:
    """Round-robin: each round times one epoch of every contender, each right after a peak sample."""
    out: dict[str, tuple[list, list]] = {name: ([], []) for name in contenders}
    for r in range(repeats):
        for name, epoch in contenders.items():
            p = peak()
            s = epoch()
            out[name][0].append(s)
            out[name][1].append(p)
            log(f"  round {r + 1}/{repeats}  {name:<22} {s:7.3f} s   (peak {p:5.1f} GFLOP/s)")
    return out


def _machine(device: torch.device) -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": str(device),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    try:
        import sklearn

        info["sklearn"] = sklearn.__version__
    except ImportError:
        info["sklearn"] = None
    return info


def run(
    pixels: np.ndarray,
    *,
    repeats: int = 5,
    quick: bool = False,
    device: str = "cpu",
    peers: tuple[str, ...] = PEERS,
    peak_size: int | None = None,
    hidden_units: int = HIDDEN_UNITS,
    batch_size: int = BATCH_SIZE,
    log=print,
) -> dict:
    """Measure everything on ``pixels`` (N, V) in [0, 255]; returns the results as a JSON-ready dict.

    Args:
        pixels: flat images (N, V), uint8 or float pixels in [0, 255].
        repeats: timed epochs per contender (the table shows medians).
        quick: fewer scaling sizes and one scaling repeat, for a smoke run.
        device: "cpu" or "cuda"; facerbm, the plain loop and the peak matmul run there.
        peers: which of "plain", "sklearn", "learnergy" to time.
        peak_size: side of the square peak matmul (default 2048 on CPU, 8192 on CUDA).
    """
    from facerbm.preprocess import Normalizer

    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda: torch sees no CUDA device here")
    unknown = set(peers) - set(PEERS)
    if unknown:
        raise ValueError(f"peers must be among {PEERS}, got {sorted(unknown)}")
    px = torch.from_numpy(np.ascontiguousarray(pixels, dtype=np.float32))
    N, V = px.shape
    H, B = hidden_units, batch_size
    # As `facerbm train` does: per-pixel standardization; the data set is one tensor on the device.
    data = Normalizer("standardize").fit(px).transform(px).to(dev).contiguous()
    flops = cd1_flops_per_image(V, H)
    peak = TorchPeak(peak_size or (8192 if dev.type == "cuda" else 2048), dev)

    log(f"{N} images of {V} pixels, H={H}, batch {B}, CD-1, {dev}, {torch.get_num_threads()} torch threads")
    contenders = {
        "facerbm binary": FacerbmEpoch(data, "binary", H, B),
        "facerbm nrelu": FacerbmEpoch(data, "nrelu", H, B),
        CEILING: ProductsAlone(data, H, B),
    }
    missing: dict[str, str] = {}
    if "plain" in peers:
        contenders["plain torch CD-1"] = PlainTorchEpoch(data, H, B)
    if "sklearn" in peers:
        try:
            contenders["sklearn BernoulliRBM"] = SklearnEpoch((px / 255.0).numpy(), H, B)
        except ImportError as exc:
            missing["sklearn BernoulliRBM"] = f"not installed ({exc})"
    if "learnergy" in peers:
        try:
            contenders["learnergy GaussianRBM"] = LearnergyEpoch(data, H, B)
        except ImportError as exc:
            missing["learnergy GaussianRBM"] = f"not installed ({exc})"

    numpy_samples = [numpy_peak(peak.n)]
    torch_samples = [peak()]
    timings = _timed_rounds(contenders, repeats, peak, log)
    numpy_samples.append(numpy_peak(peak.n))
    torch_samples.append(peak())

    rows = []
    for name, (seconds, peaks) in timings.items():
        torch_samples.extend(peaks)
        rows.append(_summary(name, seconds, peaks, N, flops))
    for name, why in missing.items():
        rows.append({"name": name, "installed": False, "note": why})
    by_name = {r["name"]: r for r in rows if r["installed"]}
    ratios = {
        mine: {
            peer: by_name[peer]["seconds_per_epoch"] / by_name[mine]["seconds_per_epoch"]
            for peer in by_name
            if not peer.startswith("facerbm") and peer != CEILING
        }
        for mine in by_name
        if mine.startswith("facerbm")
    }
    ceiling = by_name[CEILING]
    for mine in ratios:
        # Per round, the ceiling's epoch time over facerbm's (both timed in that round), then the median.
        by_name[mine]["fraction_of_ceiling"] = _median(
            [c / s for c, s in zip(ceiling["seconds"], by_name[mine]["seconds"], strict=True)]
        )

    # Scaling: facerbm NReLU (the default units), the same interleaving with the peak.
    scaling: dict[str, list[dict]] = {"hidden_units": [], "batch_size": []}
    scale_repeats = 1 if quick else max(1, min(3, repeats))
    for key, sizes in (
        ("hidden_units", QUICK_HIDDEN if quick else SCALING_HIDDEN),
        ("batch_size", QUICK_BATCH if quick else SCALING_BATCH),
    ):
        for size in sizes:
            h, bs = (size, B) if key == "hidden_units" else (H, size)
            f = cd1_flops_per_image(V, h)
            epoch = FacerbmEpoch(data, "nrelu", h, bs)
            (seconds, peaks) = _timed_rounds({f"{key}={size}": epoch}, scale_repeats, peak, log)[
                f"{key}={size}"
            ]
            torch_samples.extend(peaks)
            scaling[key].append(
                _summary(f"{key}={size}", seconds, peaks, N, f, hidden_units=h, batch_size=bs)
            )

    return {
        "format": 1,
        "date": _dt.datetime.now().isoformat(timespec="seconds"),
        "machine": _machine(dev),
        "setup": {
            "images": N,
            "pixels": V,
            "hidden_units": H,
            "batch_size": B,
            "k": 1,
            "flops_per_image": flops,
            "repeats": repeats,
            "quick": quick,
        },
        "peak": {
            "matrix_size": peak.n,
            "torch_gflops": _median(torch_samples),
            "torch_gflops_max": max(torch_samples),
            "torch_samples": torch_samples,
            "numpy_gflops": _median(numpy_samples),
            "numpy_samples": numpy_samples,
        },
        "contenders": rows,
        "ratios": ratios,
        "scaling": scaling,
    }


# -- output -----------------------------------------------------------------------------------------
def format_table(res: dict) -> str:
    """The results as markdown: machine, peak, contenders with ratios, scaling."""
    m, s, pk = res["machine"], res["setup"], res["peak"]
    peers = [
        r["name"]
        for r in res["contenders"]
        if r["installed"] and not r["name"].startswith("facerbm") and r["name"] != CEILING
    ]
    lines = [
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['torch_threads']} torch threads, device {m['device']}"
        + (f" ({m['gpu']})" if "gpu" in m else "")
        + f"; torch {m['torch']}, numpy {m['numpy']}, scikit-learn {m.get('sklearn')}.",
        f"Peak float32 matmul ({pk['matrix_size']}²): torch {pk['torch_gflops']:.0f} GFLOP/s "
        f"(median of {len(pk['torch_samples'])}, range {min(pk['torch_samples']):.0f}-"
        f"{max(pk['torch_samples']):.0f}), numpy {pk['numpy_gflops']:.0f} GFLOP/s.",
        f"One epoch: {s['images']} images of {s['pixels']} pixels, {s['hidden_units']} hidden units, "
        f"batch {s['batch_size']}, CD-1 = {s['flops_per_image'] / 1e6:.1f} MFLOP per image; "
        f"median of {s['repeats']} epochs.",
        "",
        "| contender | s / epoch | images / s | GFLOP/s | % of peak | % of ceiling | "
        + " | ".join(f"vs {p}" for p in peers)
        + " |",
        "|---|--:|--:|--:|--:|--:|" + "--:|" * len(peers),
    ]
    for r in res["contenders"]:
        if not r["installed"]:
            lines.append(f"| {r['name']} | {r['note']} |" + " |" * (4 + len(peers)))
            continue
        ratios = res["ratios"].get(r["name"], {})
        cells = [f"{ratios[p]:.2f}x" if p in ratios else "" for p in peers]
        of_ceiling = f"{100 * r['fraction_of_ceiling']:.0f}%" if "fraction_of_ceiling" in r else ""
        lines.append(
            f"| {r['name']} | {r['seconds_per_epoch']:.3f} | {r['images_per_second']:,.0f} | "
            f"{r['gflops']:.1f} | {100 * r['fraction_of_peak']:.0f}% | {of_ceiling} | "
            + " | ".join(cells)
            + " |"
        )
    for key, title in (
        ("hidden_units", "hidden units (batch 100)"),
        ("batch_size", "batch size (500 hidden)"),
    ):
        rows = res["scaling"][key]
        if not rows:
            continue
        lines += [
            "",
            f"facerbm NReLU epoch against {title}:",
            "",
            f"| {key.replace('_', ' ')} | s / epoch | images / s | GFLOP/s | % of peak |",
            "|--:|--:|--:|--:|--:|",
        ]
        for r in rows:
            lines.append(
                f"| {r[key]} | {r['seconds_per_epoch']:.3f} | {r['images_per_second']:,.0f} | "
                f"{r['gflops']:.1f} | {100 * r['fraction_of_peak']:.0f}% |"
            )
    return "\n".join(lines)


def _verdict(res: dict) -> list[str]:
    by = {r["name"]: r for r in res["contenders"] if r["installed"]}
    out = []
    for mine in ("facerbm binary", "facerbm nrelu"):
        if mine not in by:
            continue
        frac = by[mine]["fraction_of_peak"]
        line = f"{mine}: {100 * frac:.0f}% of peak (target 70%: {'met' if frac >= 0.7 else 'NOT met'})"
        line += f", {100 * by[mine]['fraction_of_ceiling']:.0f}% of the products-alone ceiling"
        sk = res["ratios"][mine].get("sklearn BernoulliRBM")
        if sk is not None:
            line += f", {sk:.2f}x sklearn (target 1.8x: {'met' if sk >= 1.8 else 'NOT met'})"
        out.append(line)
    return out


def load_pixels(data: Path | None, log=print) -> tuple[np.ndarray, dict]:
    """Flat LFW pixels (N, V) uint8 from ``data`` (an archive, a folder or the default shared
    archive), or the embedded 1,400-face sample when none is there."""
    from facerbm.datasets import load_lfw, load_sample

    path = data or DEFAULT_DATA
    if path.exists():
        t0 = time.perf_counter()
        faces = load_lfw(path, progress=True)
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        faces = load_lfw(path, progress=False)  # from the on-disk cache
        cached = time.perf_counter() - t0
        info = {"source": str(path), "first_load_seconds": first, "cached_load_seconds": cached}
    else:
        log(f"note: no LFW archive at {path}; using the embedded sample (pass --data PATH for all of LFW)")
        faces = load_sample()
        info = {"source": "embedded sample (facerbm.datasets.load_sample)"}
    images = np.asarray(faces.images)
    info["image_shape"] = list(images.shape[1:])
    return images.reshape(images.shape[0], -1), info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, help=f"LFW archive or folder (default {DEFAULT_DATA})")
    parser.add_argument("--repeats", type=int, default=5, help="timed epochs per contender (default 5)")
    parser.add_argument("--quick", action="store_true", help="fewer sizes and repeats: a smoke run")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--peers", default=",".join(PEERS), help=f"comma-separated subset of {PEERS}")
    parser.add_argument("--peak-size", type=int, help="side of the square peak matmul (2048; 8192 on CUDA)")
    parser.add_argument("--json", type=Path, help="where to write the results (default benchmarks/results/)")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be a positive integer, got {args.repeats}")
    if args.device not in ("cpu", "cuda") and not args.device.startswith("cuda:"):
        parser.error(f"--device must be cpu or cuda, got {args.device!r}")
    peers = tuple(p for p in args.peers.split(",") if p)
    if set(peers) - set(PEERS):
        parser.error(f"--peers must be among {PEERS}, got {args.peers!r}")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("error: --device cuda, but torch sees no CUDA device here", file=sys.stderr)
        return 2

    pixels, data_info = load_pixels(args.data)
    repeats = min(args.repeats, 2) if args.quick else args.repeats
    res = run(
        pixels, repeats=repeats, quick=args.quick, device=args.device, peers=peers, peak_size=args.peak_size
    )
    res["data"] = data_info
    table = format_table(res)
    print()
    print(table)
    if "cached_load_seconds" in data_info:
        print(f"\nLFW load: {data_info['cached_load_seconds'] * 1e3:.0f} ms from the on-disk cache.")
    print()
    print("\n".join(_verdict(res)))
    path = args.json or RESULTS / f"speed-{res['date'][:10]}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    res["table"] = table
    path.write_text(json.dumps(res, indent=1))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
