"""The toolkit's LiRA and hardness against independent per-point code, on an organiser-format archive.

Everything on the independent side is written from the organisers' description and the papers
alone: seeds read from the model folders, the MT19937 permutation as a plain swap loop, the Purchase-100 text file
parsed with ``csv``, the MICO MLP rebuilt inline and loaded with ``torch.load``, and the formulas
evaluated one point at a time with ``math`` / ``scipy.stats.norm``. The toolkit side is the pipeline
(``Context.open`` → cached outputs → ``PhaseArrays`` → ``score_arrays``).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from mico_fixtures import mico_track, write_purchase, write_scenario, write_weights
from scipy.stats import norm

from toolkit.mico.pipeline import Context
from toolkit.mico.scoring import score_arrays
from toolkit.tracks import Recipe

N, n, m = 300, 200, 25
TASK, SCEN = "purchase100", "purchase100_inf"


def randperm(seed: int, size: int) -> list[int]:
    raw = np.random.RandomState(seed & 0xFFFFFFFF)._bit_generator.random_raw(max(size - 1, 0))
    r = list(range(size))
    for i in range(size - 1):
        j = i + int(raw[i]) % (size - i)
        r[i], r[j] = r[j], r[i]
    return r


def read_seed(folder: Path, name: str) -> int | None:
    path = folder / name
    return int(path.read_text().strip()) if path.exists() else None


def challenge_and_members(folder: Path) -> tuple[list[int], set[int]]:
    """Challenge points (challenge order) and, for a train model, its whole training set."""
    p1 = randperm(read_seed(folder, "seed_challenge"), N)
    challenge, rest = p1[: 2 * m], p1[2 * m :]
    members = set()
    if read_seed(folder, "seed_training") is not None:
        p2 = randperm(read_seed(folder, "seed_training"), N - 2 * m)
        p3 = randperm(read_seed(folder, "seed_membership"), 2 * m)
        members = {rest[k] for k in p2[: n - m]} | {challenge[k] for k in p3[m:]}
    return challenge, members


def model_logits(folder: Path, x: torch.Tensor) -> np.ndarray:
    class MLP(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.mlp = torch.nn.Sequential(torch.nn.Linear(600, 128), torch.nn.Tanh(), torch.nn.Linear(128, 100))

        def forward(self, v):
            return self.mlp(v)

    net = MLP()
    net.load_state_dict(torch.load(folder / "model.pt", weights_only=True))
    with torch.no_grad():
        return net(x).double().numpy()


def loss_and_phi(z: np.ndarray, y: int) -> tuple[float, float]:
    top = max(z)
    lse = top + math.log(sum(math.exp(v - top) for v in z))
    others = [v for k, v in enumerate(z) if k != y]
    top_o = max(others)
    lse_o = top_o + math.log(sum(math.exp(v - top_o) for v in others))
    return lse - z[y], z[y] - lse_o


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    torch.set_num_threads(1)
    data = tmp_path_factory.mktemp("mico")
    write_purchase(data / TASK / "dataset_purchase", n=N)
    weights = lambda folder, splits, model_id: write_weights(folder, "mico_mlp", 100, model_id)
    write_scenario(data, TASK, SCEN, N, n, m, counts=(10, 3, 1), weights=weights, seed=5)
    return data


def test_lira_and_hardness_agree_with_independent_code(archive, monkeypatch, tmp_path):
    monkeypatch.setenv("MIA_CACHE_DIR", str(tmp_path / "cache"))
    recipe = {"attack": "hardness", "signal": "loss", "formula": "in"}
    track = mico_track(TASK, TASK, TASK, "mico_mlp", 100, N, n, m, {SCEN: {"recipe": recipe}})
    ctx = Context(track=track, data_dir=archive, progress=False)
    sd = ctx.open(track.scenarios[0])
    arrays = sd.phase_arrays("dev", ctx.paths(sd))
    hard = score_arrays(arrays, Recipe("hardness", {"signal": "loss", "formula": "in"}))
    lira = score_arrays(arrays, Recipe("lira", {"online": True, "fix_variance": True}))

    # --- the independent side, from the files alone
    with open(archive / TASK / "dataset_purchase", newline="") as f:
        rows = [[int(v) for v in r] for r in csv.reader(f)]
    x = torch.tensor([r[1:] for r in rows], dtype=torch.float32)
    y = [r[0] - 1 for r in rows]
    root = archive / TASK / SCEN
    train = sorted((root / "train").iterdir(), key=lambda p: int(p.name.split("_")[1]))
    dev = sorted((root / "dev").iterdir(), key=lambda p: int(p.name.split("_")[1]))
    refs = [(model_logits(f, x), challenge_and_members(f)[1]) for f in train]
    exp_hard, exp_lira, stats = [], [], []
    for folder in dev:
        z = model_logits(folder, x)
        for j in challenge_and_members(folder)[0]:
            loss, phi = loss_and_phi(list(z[j]), y[j])
            ref = [(loss_and_phi(list(r[j]), y[j]), j in members) for r, members in refs]
            neg_in = [-lo for (lo, _), inside in ref if inside]
            phi_in = [p for (_, p), inside in ref if inside]
            phi_out = [p for (_, p), inside in ref if not inside]
            stats.append((phi, phi_in, phi_out))
            exp_hard.append(-loss - (sum(neg_in) / len(neg_in) if neg_in else float("nan")))
    var = lambda v: float(np.var(v, ddof=1))
    sd_in = math.sqrt(np.mean([var(a) for _, a, _ in stats if len(a) > 1]))
    sd_out = math.sqrt(np.mean([var(b) for _, _, b in stats if len(b) > 1]))
    for phi, a, b in stats:
        ok = a and b
        exp_lira.append(
            norm.logpdf(phi, np.median(a), sd_in) - norm.logpdf(phi, np.median(b), sd_out) if ok else float("nan")
        )

    exp_hard, exp_lira = np.array(exp_hard), np.array(exp_lira)
    assert len(exp_hard) == len(hard) == 3 * 2 * m
    both = np.isfinite(exp_lira) & np.isfinite(exp_hard)  # points with IN and OUT references
    assert both.mean() > 0.9
    np.testing.assert_allclose(hard[both], exp_hard[both], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(lira[both], exp_lira[both], rtol=1e-4, atol=1e-5)
