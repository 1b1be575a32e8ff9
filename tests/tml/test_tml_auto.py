"""The ResNet18 task's default: every candidate validated out-of-fold, the first submitted, shadows checked."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fixtures_tml import one_thread, write_task

from toolkit.references.check import ModelStats, distance, matches, model_stats, reference_stats, verdict
from toolkit.tml.candidates import candidates
from toolkit.tml.package import normalise, read_submission_csv
from toolkit.tml.pipeline import TMLOutputs, make_submission, stratified_folds, validate
from toolkit.tml.settings import TMLSettings
from toolkit.tml.validation import oof_candidate


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with one_thread():
        yield


def leaky_with_refs(n_pub=600, n_priv=200, n_ref=8, n_classes=5, seed=0) -> TMLOutputs:
    """A target and references whose true-class logit rises by 2.5 on their members; points differ in hardness."""
    rng = np.random.default_rng(seed)
    n = n_pub + n_priv
    labels = rng.integers(0, n_classes, n)
    hard = rng.normal(0, 3.0, n)  # per-point difficulty, shared by every model: what calibration removes
    member = rng.permutation(np.arange(n) % 2)
    keep = np.zeros((n_ref, n), bool)
    for j in range(n_ref // 2):
        half = rng.permutation(n)[: n // 2]
        keep[2 * j, half] = True
        keep[2 * j + 1] = ~keep[2 * j]

    def logits(m):
        z = rng.normal(0, 0.5, (n, 1, n_classes))
        z[np.arange(n), 0, labels] += hard + 1.2 * m
        return z.astype(np.float32)

    membership = np.concatenate([member[:n_pub], -np.ones(n_priv)]).astype(np.int8)
    ref = np.stack([logits(k) for k in keep])
    return TMLOutputs(np.arange(n) + 7, labels.astype(np.int64), membership, n_pub, logits(member), ref, keep)


def test_every_family_is_a_candidate_and_reference_ones_need_shadows():
    with_refs = {c.family for c in candidates(True, 2)}
    assert {"threshold", "hardness", "lira", "rmia", "base", "bavaria", "informia", "quantile", "shokri"} <= with_refs
    assert {"stack", "fusion"} <= with_refs
    labels = [c.label for c in candidates(True, 2)]
    assert "stack(model=mlp,views=orig)" in labels and "stack(model=mlp,views=all)" in labels
    assert any("refs=yes" in x for x in labels) and len(labels) == len(set(labels))
    without = {c.family for c in candidates(False, 1)}
    assert without == {"threshold", "quantile", "stack"}
    assert not any("views=all" in c.label for c in candidates(False, 1))


@pytest.mark.parametrize("label", ["lira", "fusion(low-FPR weighted)", "stack(model=lgbm,views=orig,refs=yes)"])
def test_calibrated_candidates_beat_the_plain_threshold(label):
    """Per-point hardness hides membership from the threshold; shadows and fusion recover it."""
    outs = leaky_with_refs()
    folds = stratified_folds(outs.membership[:600], 3)
    by = {c.label: c for c in candidates(True, 1)}
    y = outs.membership[:600]
    auc = {
        k: validate(y, oof_candidate(by[k], outs, folds), n_boot=5, n_sims=5)["auc"]
        for k in (label, "threshold(signal=loss)")
    }
    assert auc[label] > auc["threshold(signal=loss)"] + 0.1, auc


def test_supervised_candidates_never_read_the_held_out_folds_labels():
    """Flip the membership of fold 0: every supervised candidate's fold-0 scores stay exactly the same."""
    outs = leaky_with_refs(n_pub=300, n_priv=50)
    folds = stratified_folds(outs.membership[:300], 3)
    flipped = outs.membership.copy()
    flipped[:300][folds == 0] = 1 - flipped[:300][folds == 0]
    other = TMLOutputs(outs.ids, outs.labels, flipped, outs.n_pub, outs.target, outs.ref, outs.keep)
    supervised = [c for c in candidates(True, 1) if c.supervised]
    assert {c.family for c in supervised} == {"quantile", "stack", "fusion"}
    for cand in supervised:
        a, b = oof_candidate(cand, outs, folds), oof_candidate(cand, other, folds)
        np.testing.assert_array_equal(a[folds == 0], b[folds == 0], err_msg=cand.label)
        assert not np.array_equal(a[folds == 1], b[folds == 1]), cand.label  # the other folds did learn from fold 0


def test_the_track_rule_picks_what_auto_submits():
    """``rank_and_pick`` submits the pick of the rule the recipe names: by default the top of the ranking, with
    ``rule = "rank_top3"`` the mean rank of the three best (entered in the figures too); a wrong rule is refused."""
    from toolkit.errors import ConfigError
    from toolkit.tml.candidates import recipe_candidate
    from toolkit.tml.validation import out_of_fold, rank_and_pick
    from toolkit.tracks import Recipe

    outs = leaky_with_refs(n_pub=300, n_priv=50)
    folds = stratified_folds(outs.membership[:300], 3)
    cands = [recipe_candidate(Recipe(a)) for a in ("threshold", "hardness", "lira", "rmia", "base")]
    oof = out_of_fold(cands, outs, folds)

    def _ranked(attack, params):
        return rank_and_pick(cands, oof, outs.membership[:300], attack, params, 0, 10, 10)

    ranking, _, figures, pick, corrected = _ranked("auto", {})
    assert pick.labels == (ranking[0]["label"],) and [r["chosen"] for r in ranking] == [True] + [False] * 4
    assert corrected["candidates"] == 5 and set(figures) == {c.label for c in cands}
    ranking, picked_oof, figures, pick, _ = _ranked("auto", {"rule": "rank_top3"})
    assert pick.labels == tuple(r["label"] for r in ranking[:3]) and sum(r["chosen"] for r in ranking) == 3
    assert pick.label() in picked_oof and figures[pick.label()]["auc"] > 0.5
    _, _, _, pick, corrected = _ranked("hardness", {})
    assert pick.labels == ("hardness",) and corrected["candidates"] == 1
    with pytest.raises(ConfigError, match="unknown auto rule 'top'"):
        _ranked("auto", {"rule": "top"})


def test_recipe_check_figures_by_hand():
    # points 0, 1 are members and right; 2, 3 non-members and wrong
    z = np.array([[[5.0, 0.0]], [[5.0, 0.0]], [[0.0, 1.0]], [[5.0, 0.0]]], np.float32)
    labels = np.array([0, 0, 0, 1])
    st = model_stats(z, labels, np.array([True, True, False, False]))
    assert st.train_acc == 1.0 and st.test_acc == 0.0
    np.testing.assert_allclose(st.loss_in, [np.log1p(np.exp(-5.0))] * 3, rtol=1e-5)
    out = [np.log1p(np.exp(1.0)), 5.0 + np.log1p(np.exp(-5.0))]  # −log p_y of points 2 and 3
    np.testing.assert_allclose(st.loss_out, np.quantile(out, [0.25, 0.5, 0.75]), rtol=1e-5)
    # two references on the same logits: model 0 trained on points 0, 1 and model 1 on 0, 2
    keep = np.array([[True, True, False, False], [True, False, True, False]])
    pooled = reference_stats(np.stack([z, z]), labels, keep)
    assert pooled.train_acc == 0.75 and pooled.test_acc == 0.25  # IN: 3 of 4 right; OUT: 1 of 4


def test_verdict_says_what_differs():
    target = ModelStats(1.0, 0.83, (0.001, 0.002, 0.004), (0.1, 0.9, 2.0))
    close = ModelStats(1.0, 0.81, (0.001, 0.003, 0.005), (0.1, 1.1, 2.2))
    far = ModelStats(0.9, 0.6, (0.1, 0.3, 0.5), (0.5, 2.5, 4.0))
    assert matches(close, target) and verdict(close, target).startswith("shadow models match the target")
    line = verdict(far, target)
    assert "differ" in line and "test acc 0.60 vs 0.83" in line and "--match" in line
    assert "median member loss" in line and "\n" not in line
    assert distance(close, target) < distance(far, target)


@pytest.fixture(scope="module")
def task_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tmlauto") / "task"
    write_task(folder, n_pub=120, n_priv=60, train_epochs=2)
    return folder


@pytest.mark.slow
def test_auto_submits_the_candidate_ranked_first(task_dir, tmp_path):
    from toolkit.models.training import TrainConfig
    from toolkit.tml.candidates import score_candidate
    from toolkit.tml.pipeline import collect_outputs
    from toolkit.tml.report import load_oof

    cfg = TrainConfig(epochs=1, batch_size=64, lr=0.01)
    man = make_submission(
        TMLSettings(
            data_dir=task_dir,
            out_dir=tmp_path,
            shadows=2,
            attack="auto",
            folds=3,
            shadow_dir=tmp_path / "sh",
            train=cfg,
            cache_dir=tmp_path / "c",
            run_name="a",
            n_boot=10,
            n_sims=10,
            progress=False,
        )
    )
    ranking = man["ranking"]
    objectives = [r["objective"] for r in ranking]
    assert objectives == sorted(objectives, reverse=True) and len(ranking) > 20
    assert man["chosen"] == ranking[0]["label"] and ranking[0]["chosen"] and sum(r["chosen"] for r in ranking) == 1
    saved = json.loads((tmp_path / "a.manifest.json").read_text())
    assert saved["ranking"] == json.loads(json.dumps(ranking)) and saved["chosen"] == man["chosen"]
    assert set(saved["validation"]) == {r["label"] for r in ranking}
    assert "verdict" in saved["shadows"]["check"] and saved["shadows"]["n"] == 2
    assert set(saved["seconds"]) == {"shadows", "outputs", "validation", "private scores"}
    _, oof = load_oof(tmp_path / "a.scores.npz")
    assert set(oof) == set(saved["validation"])
    # the CSV holds the chosen candidate's private scores, trained on the whole public set
    from toolkit.data.tml import load_task
    from toolkit.references.runner import load_keep, shadow_paths

    task = load_task(task_dir)
    outs = collect_outputs(
        task, shadow_paths(tmp_path / "sh", 2), load_keep(tmp_path / "sh"), cache_dir=tmp_path / "c", progress=False
    )
    cand = next(c for c in candidates(True, 1) if c.label == man["chosen"])
    want = normalise(score_candidate(cand, outs, np.arange(120, 180), np.arange(120)))
    ids, got = read_submission_csv(tmp_path / "a.csv", task.priv.ids)
    np.testing.assert_array_equal(ids, task.priv.ids)
    np.testing.assert_allclose(got, want, atol=1e-6)
    # a recipe fixed in track.toml is submitted even where another candidate ranks higher
    fixed = make_submission(TMLSettings(
        data_dir=task_dir, out_dir=tmp_path, shadows=2, attack="threshold", folds=3, shadow_dir=tmp_path / "sh",
        train=cfg, cache_dir=tmp_path / "c", run_name="f", n_boot=5, n_sims=5, progress=False,
    ))  # fmt: skip
    assert fixed["chosen"] == "threshold" and set(fixed["validation"]) == {"threshold", "lira", "rmia"}


@pytest.mark.slow
def test_match_trains_one_pair_per_recipe_and_keeps_the_closest(task_dir, tmp_path):
    from toolkit.models.training import TrainConfig
    from toolkit.tml.references import shadow_folder, shadow_grid

    cfg = TrainConfig(epochs=2, batch_size=64, lr=0.01)
    grid = shadow_grid(cfg)
    assert [(c.epochs, c.lr, c.label_smoothing) for c in grid] == [
        (1, 0.01, 0), (2, 0.01, 0), (4, 0.01, 0), (2, 0.005, 0), (2, 0.02, 0), (2, 0.01, 0.06)
    ]  # fmt: skip
    man = make_submission(TMLSettings(
        data_dir=task_dir, out_dir=tmp_path, shadows=2, attack="threshold", compare=(), folds=3,
        shadow_dir=tmp_path / "sh", train=cfg, match=True, cache_dir=tmp_path / "c", run_name="m", n_boot=5,
        n_sims=5, progress=False,
    ))  # fmt: skip
    rows = man["shadows"]["match"]
    assert [(r["epochs"], r["lr"]) for r in rows] == [(c.epochs, c.lr) for c in grid]
    best = min(rows, key=lambda r: r["distance"])
    assert (man["shadows"]["train"]["epochs"], man["shadows"]["train"]["lr"]) == (best["epochs"], best["lr"])
    folders = [shadow_folder(task_dir, c, "resnet18_44", "all", 0, tmp_path / "sh") for c in grid]
    assert len(set(folders)) == 6 and all((f / "shadow_001.pt").exists() for f in folders)
    assert man["shadows"]["dir"] == str(folders[rows.index(best)])
