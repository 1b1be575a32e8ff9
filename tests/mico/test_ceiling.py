"""Each DP scenario's ceiling from its track's recipe (toolkit.mico.ceiling): q and T against MICO's published
facts, the printed ceilings against the expected figures, and nothing for a scenario without DP."""

from __future__ import annotations

import math
import re
from dataclasses import replace

import pytest

from toolkit.metrics import FPR_GRID, metric_key
from toolkit.mico.ceiling import dp_recipe, recipe_ceiling
from toolkit.mico.table import METRIC_COLUMNS, ceiling_line, format_table
from toolkit.privacy import tpr_ceiling
from toolkit.tracks import load_track

# MICO's recipes (the organisers' scripts): q = 1/len(loader) and T = epochs × len(loader).
MICO = {
    "cifar10": (1 / 98, 4900),
    "purchase100": (1 / 293, 8790),
    "sst2": (0.0152, 198),
}
DDP = {"cifar10_ddp": "cifar10", "purchase100_ddp": "purchase100", "sst2_ddp": "sst2"}
# TPR ceilings at 10% FPR with σ from the PRV accountant at the recipe's q, T (ε = 10 / 4, δ = 1e-5).
EXPECTED = {"cifar10": (0.670, 0.346), "purchase100": (0.583, 0.317), "sst2": (0.400, 0.236)}
# σ the published write-up recomputed with prv-accountant (eps_error 0.1), for a check with no Opacus in it.
PUBLISHED_SIGMA = {"cifar10": (0.699, 1.044), "purchase100": (0.542, 0.707), "sst2": (0.502, 0.689)}


@pytest.mark.parametrize("track_name", sorted(MICO))
def test_mico_recipes_give_the_published_q_and_steps(track_name):
    track = load_track(track_name)
    q, steps = MICO[track_name]
    for level in ("hi", "lo"):
        r = dp_recipe(track, track.scenario(f"{track_name}_{level}"))
        assert r.sample_rate == pytest.approx(q, rel=2e-3) and r.steps == steps
        assert (r.delta, r.accountant, r.source) == (1e-5, "prv", "references")
    assert r.epsilon == 4.0 and dp_recipe(track, track.scenario(f"{track_name}_inf")) is None


def test_ddp_scenarios_take_their_modality_recipe():
    ddp = load_track("ddp")
    for name, modality in DDP.items():
        r = dp_recipe(ddp, ddp.scenario(name))
        q, steps = MICO[modality]
        assert r.sample_rate == pytest.approx(q, rel=2e-3) and r.steps == steps and r.epsilon == 4.0


def test_local_tracks_take_their_build_table():
    """The toolkit's own DP-SGD: q = dp_batch_size / n, ⌈dp_epochs / q⌉ steps, σ from the RDP accountant."""
    demo = load_track("demo")
    r = dp_recipe(demo, demo.scenario("demo_lo"))
    assert (r.sample_rate, r.steps, r.epochs, r.accountant, r.source) == (0.5, 40, 20, "rdp", "build")
    shaped = load_track("purchase_shaped")
    r = dp_recipe(shaped, shaped.scenario("purchase_shaped_hi"))
    assert r.sample_rate == 512 / 15000 and r.steps == math.ceil(20 * 15000 / 512) == 586
    assert (
        dp_recipe(demo, demo.scenario("demo_inf")) is None and recipe_ceiling(demo, demo.scenario("demo_inf")) is None
    )


def _printed(line: str) -> float:
    return float(re.search(r"no attack can pass (\d\.\d+)", line).group(1))


@pytest.mark.slow  # Opacus's PRV search for σ: 5–30 s per recipe on two busy cores (then cached)
@pytest.mark.parametrize("track_name", sorted(MICO))
def test_printed_mico_ceilings_match_the_expected_figures(track_name):
    """σ from the track's accountant (Opacus, PRV), the curve from dp-accounting; printed to 3 decimals."""
    track = load_track(track_name)
    for level, expected in zip(("hi", "lo"), EXPECTED[track_name]):
        name = f"{track_name}_{level}"
        c = recipe_ceiling(track, track.scenario(name))
        assert c["tpr_ceiling"][metric_key(0.1)] == pytest.approx(expected, abs=0.01)
        assert set(c["tpr_ceiling"]) == {metric_key(x) for x in FPR_GRID}
        assert c["library"].startswith("dp-accounting ") and c["epsilon"] == (10.0 if level == "hi" else 4.0)
        assert c["noise_multiplier_by"].startswith("opacus ") and c["noise_multiplier_by"].endswith("(prv accountant)")
        assert _printed(ceiling_line(name, c, 0.1, 0.1)) == pytest.approx(expected, abs=0.01)


@pytest.mark.parametrize("track_name", sorted(MICO))
def test_mico_ceilings_with_the_published_sigma(track_name):
    """The same figures from the published σ at MICO's exact q = 1/len(loader): no Opacus, no track.toml."""
    q, steps = MICO[track_name]
    for sigma, expected in zip(PUBLISHED_SIGMA[track_name], EXPECTED[track_name]):
        assert tpr_ceiling(0.1, sample_rate=q, steps=steps, noise_multiplier=sigma) == pytest.approx(expected, abs=0.01)


def _meta(figure: float, ceiling: dict | None = None) -> dict:
    row = {c: figure for c in METRIC_COLUMNS}
    meta = {"metrics": {"recipe": {"validation": row, "final": row}}}
    return meta | ({"dp_ceiling": ceiling} if ceiling else {})


def test_the_table_prints_a_ceiling_beside_each_dp_figure_only():
    demo = load_track("demo")
    ceiling = recipe_ceiling(demo, demo.scenario("demo_lo"))
    out = format_table({"demo_inf": _meta(0.5), "demo_lo": _meta(0.118, ceiling)})
    lines = [ln for ln in out.splitlines() if ln.startswith("DP ceiling")]
    assert len(lines) == 1 and lines[0].startswith("DP ceiling, demo_lo: 0.118 at 10% FPR (final); no attack can pass ")
    assert "(ε=4, δ=1e-5, q=0.5, T=40, σ=" in lines[0] and "dp-accounting" in lines[0]
    assert _printed(lines[0]) == pytest.approx(ceiling["tpr_ceiling"]["TPR_FPR_1000"], abs=5e-4)
    assert "demo_inf" not in " ".join(lines)


def test_the_ceiling_is_computed_once_per_recipe(monkeypatch):
    """A second call reads the cache ($MIA_CACHE_DIR/privacy): neither the accountant nor the PLD runs again."""
    from toolkit import privacy
    from toolkit.models import training

    demo = load_track("demo")
    first = recipe_ceiling(demo, demo.scenario("demo_hi"))

    def refuse(*a, **k):
        raise AssertionError("recomputed")

    training.noise_multiplier.cache_clear()  # a new process: only the disk cache remains
    monkeypatch.setattr("opacus.accountants.utils.get_noise_multiplier", refuse)
    monkeypatch.setattr(privacy, "privacy_profile", refuse)
    assert recipe_ceiling(demo, demo.scenario("demo_hi")) == first


def test_a_recipe_no_noise_can_meet_is_one_line_in_the_table(monkeypatch):
    """Opacus's "privacy budget is too low" becomes a ConfigError, which the attack stage turns into a table line."""
    from toolkit.errors import ConfigError
    from toolkit.models import training

    def too_low(**kw):
        raise ValueError("The privacy budget is too low.")

    training.noise_multiplier.cache_clear()
    monkeypatch.setattr("opacus.accountants.utils.get_noise_multiplier", too_low)
    demo = load_track("demo")
    tiny = replace(demo.scenario("demo_lo"), epsilon=1e-3)
    with pytest.raises(ConfigError, match="no noise multiplier reaches ε=0.001 at q=0.5: The privacy budget"):
        recipe_ceiling(demo, tiny)
    out = format_table({"demo_lo": _meta(0.1) | {"dp_ceiling_missing": "no noise multiplier reaches ε=0.001"}})
    assert "DP ceiling, demo_lo: not computed (no noise multiplier reaches ε=0.001)" in out
