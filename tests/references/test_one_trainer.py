"""Every model trained to compare a target with reaches one trainer: ``toolkit.references.runner.train_block``;
every model the toolkit trains at all is trained in that runner.

A local challenge's models, MICO references, matched references and the ResNet18 task's shadows are
each trained with that function spied on, and every file written must have come from it.
"""

from __future__ import annotations

import ast
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from fixtures_tml import one_thread, write_task

ROOT = Path(__file__).resolve().parents[2] / "toolkit"


@pytest.fixture()
def trained(monkeypatch, tmp_path):
    """The files ``train_block`` trained, in order (the real trainer still runs)."""
    from toolkit.references import runner

    monkeypatch.setenv("MIA_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("MIA_CACHE_DIR", str(tmp_path / "cache"))
    calls, real = [], runner.train_block

    def spy(tasks, threads=None, population=None):
        calls.extend(Path(t.out_path) for t in tasks)
        return real(tasks, threads, population)

    monkeypatch.setattr(runner, "train_block", spy)
    with one_thread():
        yield calls


def test_a_built_challenge_and_its_references_and_matched_references_train_in_the_runner(trained, tmp_path):
    from toolkit.context import Context
    from toolkit.mico.build import build_challenge
    from toolkit.mico.matched import train_matched
    from toolkit.mico.references import train_references
    from toolkit.tracks import load_track

    track = load_track("demo")
    build = replace(track.build, epochs=1, dp_epochs=1, reveal_training=True)
    track = replace(track, build=build, scenarios=track.scenarios[:1])
    build_challenge(track, tmp_path / "data", train_models=2, dev_models=1, final_models=1, progress=False)
    built = sorted((tmp_path / "data").rglob("model.pt"))
    assert len(built) == 4 and sorted(trained) == built
    trained.clear()

    ctx = Context(track=track, data_dir=tmp_path / "data", progress=False)
    sc = track.scenario("demo_inf")
    sd = ctx.open(sc)
    refs = replace(track.references_of(sc), epochs=1)
    local = train_references(sd, 2, refs, progress=False)
    assert trained == local.paths and all(p.is_file() for p in local.paths)
    trained.clear()

    matched = train_matched(ctx, sd, 2, refs, n_validation=1)
    files = sorted(p for loc in matched.values() for p in loc.paths)
    assert len(files) == 6 and sorted(trained) == files  # 1 train (validation), 1 dev and 1 final target


@pytest.mark.slow
def test_the_resnet18_tasks_shadows_train_in_the_runner(trained, tmp_path):
    from toolkit.data.tml import load_task
    from toolkit.references.plan import paired_keep
    from toolkit.references.training import train_config
    from toolkit.tml.references import train_task_shadows
    from toolkit.tracks import ShadowTraining

    write_task(tmp_path / "task", n_pub=12, n_priv=12)
    task = load_task(tmp_path / "task")
    cfg = train_config(ShadowTraining(), epochs=1)
    paths, keep = train_task_shadows(task, tmp_path / "sh", 2, cfg, pool="pub", progress=False)
    assert trained == paths and all(p.is_file() for p in paths)
    np.testing.assert_array_equal(keep, paired_keep(2, keep.shape[1], 0, np.arange(len(task.pub))))


def _calls(path: Path, names: set[str], root: Path = ROOT) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
            if name in names:
                out.append(f"{path.relative_to(root.parent)}:{node.lineno} {name}")
    return out


def test_only_the_runner_trains_models():
    """``train_model`` and ``train_group`` (what trains) are called in the runner alone. Outside it, only the
    one-model builders (the ResNet18 task's practice target, the studies' models) call the runner's ``fit_model``;
    every model compared with a target goes through ``train_block`` (the tests above)."""
    found = [c for p in sorted(ROOT.rglob("*.py")) for c in _calls(p, {"fit_model", "train_group", "train_model"})]
    outside = {c.split(":")[0] for c in found if not c.startswith("toolkit/references/runner.py:")}
    assert found and all(c.startswith("toolkit/references/runner.py:") for c in found if "fit_model" not in c), found
    assert outside == {"toolkit/tml/build.py", "toolkit/studies/imbalance.py", "toolkit/studies/scaling.py"}, found


def test_the_call_finder_finds_a_bypass(tmp_path):
    probe = tmp_path / "toolkit" / "mico" / "probe.py"
    probe.parent.mkdir(parents=True)
    probe.write_text("from toolkit.models.training import fit_model\nm = fit_model('demo_mlp', 10, x, y, rows, cfg)\n")
    assert _calls(probe, {"fit_model"}, tmp_path / "toolkit") == ["toolkit/mico/probe.py:2 fit_model"]


@pytest.mark.parametrize("epsilon", [float("inf"), 4.0])
def test_train_config_gives_each_table_the_settings_it_was_given_by_hand(epsilon):
    """[build] as the builder set it field by field; [references] and [shadow] as their ``training()`` say."""
    import math

    from toolkit.models.training import TrainConfig
    from toolkit.references.training import train_config
    from toolkit.training_tables import Build, References, ShadowTraining

    b = Build(optimizer="adam", weight_decay=1e-3, clip=2.0, delta=1e-6)
    dp = math.isfinite(epsilon)
    by_hand = TrainConfig(
        epochs=b.dp_epochs if dp else b.epochs,
        batch_size=b.dp_batch_size if dp else b.batch_size,
        lr=b.dp_lr if dp else b.lr,
        optimizer=b.optimizer,
        weight_decay=b.weight_decay,
        epsilon=epsilon,
        delta=b.delta,
        clip=b.clip,
        seed=123,
    )
    assert train_config(b, seed=123, epsilon=epsilon) == by_hand
    refs = References(dp_lr=0.5, precision="bf16")
    assert train_config(refs, seed=2, epsilon=epsilon, device="meta") == TrainConfig(
        **refs.training(epsilon, 2), device="meta"
    )
    sh = ShadowTraining(augment="flip")
    assert train_config(sh, seed=3, epochs=2) == TrainConfig(**sh.training(3, 2))
