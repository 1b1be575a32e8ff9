"""Each edition of the ResNet18 task is a track file over the same code: 2025 (``resnet18``) and 2026 (``tml26``).

The 2026 files: ``model.pt`` (a CIFAR-stem ResNet18, 9 classes), ``pub.pt``, ``priv.pt`` (a plain
``__main__.TaskDataset`` with no membership field), 3×28×28 images that the organisers' transform
resizes to 32 before normalising; the CSV is ``id,score``.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import torch
from fixtures_tml import one_thread, write_malicious, write_task

from toolkit.data import load_population
from toolkit.data.tml import TaskLayout, layout_of, load_task, organisers_transform, read_membership_dataset
from toolkit.errors import ConfigError, FormatError, ModelError
from toolkit.task_format import TaskFiles, task_files, upload_protocol
from toolkit.tml.build import save_membership_dataset, save_task_dataset
from toolkit.tml.package import read_submission_csv
from toolkit.tml.settings import TMLSettings
from toolkit.tml.target import check_target
from toolkit.tracks import load_track, parse_track


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with one_thread():
        yield


@pytest.fixture(scope="module")
def task26(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tml26") / "task"
    return folder, write_task(folder, n_pub=40, n_priv=30, track="tml26")


def test_the_two_editions_differ_only_in_their_track_files():
    old, new = load_track("resnet18"), load_track("tml26")
    assert (old.files.public, old.files.private, old.files.model) == ("pub.pt", "priv_out.pt", "")
    assert (new.files.public, new.files.private, new.files.model) == ("pub.pt", "priv.pt", "model.pt")
    assert (new.files.image_size, new.files.input_size, new.n_classes) == (28, 32, 9)
    assert new.files.mean == (0.7406, 0.5331, 0.7059) and new.files.std == (0.1491, 0.1864, 0.1301)
    assert (old.upload.id_column, new.upload.id_column) == ("ids", "id")
    assert (new.upload.key_header, new.upload.path) == ("X-API-Key", "/submit/01-mia")
    assert (new.upload.cooldown_s, new.upload.failure_cooldown_s) == (3600, 120)
    assert (old.architecture, new.architecture) == ("resnet18_44", "resnet18_cifar")


@pytest.mark.parametrize(
    "table, message",
    [
        ({"public": "../pub.pt"}, "file name"),
        ({"mean": [0.5, 0.5]}, "three finite numbers"),
        ({"std": [0.1, 0.0, 0.1]}, "three positive numbers"),
        ({"image_size": 2}, "integer ≥ 8"),
        ({"private": "pub.pt"}, "three different files"),
        ({"colour": "red"}, "unknown key"),
    ],
)
def test_bad_files_tables_are_one_line(table, message):
    with pytest.raises(ConfigError, match=message) as err:
        task_files(table)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "table, message",
    [
        ({"path": "submit"}, "must start with '/'"),
        ({"key_header": "X API"}, "key_header must be a non-empty name"),
        ({"cooldown_s": -1}, "integer ≥ 0"),
        ({"reply_keys": "id"}, "list of names"),
    ],
)
def test_bad_upload_tables_are_one_line(table, message):
    with pytest.raises(ConfigError, match=message):
        upload_protocol(table)


def test_files_and_upload_tables_belong_to_the_tml_kind():
    head = {"name": "x", "task": "x", "kind": "mico", "dataset": "demo", "architecture": "demo_mlp"}
    head |= {"n_classes": 10, "population_size": 100, "len_training": 50, "m": 10}
    with pytest.raises(ConfigError, match=r"has no \[files\] table"):
        parse_track({"track": head, "scenarios": {"s": {}}, "files": {"public": "a.pt"}})


def test_2026_files_read_as_the_organisers_transform_does(task26):
    folder, gt = task26
    t = load_task(folder, layout_of(load_track("tml26")))
    assert t.model_path.name == "model.pt" and t.pub.images.shape == (40, 3, 32, 32)
    assert (t.priv.membership == -1).all() and t.priv.membership.dtype == np.int8
    np.testing.assert_array_equal(t.pub.membership, gt["membership"][:40])
    # the organisers' transform: torchvision-style Resize(32) (bilinear, antialiased), then Normalize
    raw = torch.from_numpy(gt["images"][:40])
    resized = torch.nn.functional.interpolate(raw, size=(32, 32), mode="bilinear", antialias=True)
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in ((0.7406, 0.5331, 0.7059), (0.1491, 0.1864, 0.1301)))
    np.testing.assert_allclose(t.pub.images, ((resized - mean) / std).numpy(), atol=1e-5)


def test_private_membership_may_be_absent_none_or_minus_one(tmp_path):
    layout = TaskLayout(TaskFiles(image_size=8, input_size=8), 3)
    imgs = np.full((2, 3, 8, 8), 0.5, np.float32)
    save_task_dataset(tmp_path / "absent.pt", [1, 2], imgs, [0, 1])
    save_membership_dataset(tmp_path / "none.pt", [1, 2], imgs, [0, 1], [None, None])
    save_membership_dataset(tmp_path / "minus.pt", [1, 2], imgs, [0, 1], [-1, -1])
    for name in ("absent", "none", "minus"):
        assert (read_membership_dataset(tmp_path / f"{name}.pt", layout).membership == -1).all()
    save_membership_dataset(tmp_path / "mixed.pt", [1, 2], imgs, [0, 1], [1, -1])
    with pytest.raises(FormatError, match="membership must be all 0/1"):
        read_membership_dataset(tmp_path / "mixed.pt", layout)
    with pytest.raises(FormatError, match=r"3×32×32"):
        read_membership_dataset(tmp_path / "none.pt")  # the 2025 layout wants 32-pixel images


def test_public_set_must_carry_membership(tmp_path):
    imgs = np.full((2, 3, 28, 28), 0.5, np.float32)
    save_task_dataset(tmp_path / "pub.pt", [1, 2], imgs, [0, 1])
    save_task_dataset(tmp_path / "priv.pt", [3, 4], imgs, [0, 1])
    with pytest.raises(Exception, match="no membership labels"):
        load_task(tmp_path, layout_of(load_track("tml26")))


def test_population_fingerprint_names_the_transform(task26):
    folder, gt = task26
    layout = layout_of(load_track("tml26"))
    pop = load_population("tml", folder, options=layout)
    assert pop.inputs.shape == (70, 3, 32, 32) and pop.fingerprint.endswith(layout.files.transform_label())
    np.testing.assert_allclose(pop.inputs, organisers_transform(gt["images"], layout.files), atol=1e-6)
    assert load_population("tml", folder, options=layout).fingerprint == pop.fingerprint


def test_target_is_checked_against_the_track_in_one_line(task26, tmp_path):
    folder, _ = task26
    with pytest.raises(ModelError, match=r"3×3 stem, 512→9 head; the track says resnet18_44 with 9 classes") as err:
        check_target(load_task(folder, layout_of(load_track("tml26"))), "resnet18_44")
    assert "\n" not in str(err.value)
    old = tmp_path / "old"
    write_task(old, n_pub=6, n_priv=6)
    wrong_track = TaskLayout(TaskFiles(), 9)
    with pytest.raises(ModelError, match=r"7×7 stem, 512→44 head; the track says resnet18_cifar with 9 classes"):
        check_target(load_task(old, wrong_track), "resnet18_cifar")
    line = check_target(load_task(folder, layout_of(load_track("tml26"))), "resnet18_cifar")
    assert line.startswith("target: model.pt, resnet18_cifar (3×3 stem, 512→9 head)")


@pytest.mark.parametrize("track", ["resnet18", "tml26"])
def test_a_poisoned_target_is_refused_before_any_shadow_trains(tmp_path, track, monkeypatch):
    """A pickle that would run a command in place of the target's weights: refused in seconds, nothing trained."""
    from toolkit.tml import pipeline, references

    folder = tmp_path / "task"
    write_task(folder, n_pub=20, n_priv=20, track=track)
    the_track = load_track(track)
    target = folder / (the_track.files.model or "01_MIA.pt")
    marker = tmp_path / "pwned"
    write_malicious(target, __import__("os").system, f"touch {marker}")
    settings = TMLSettings(
        track=the_track, data_dir=folder, out_dir=tmp_path / "out", shadows=2, attack="threshold", progress=False
    )
    trained = []
    monkeypatch.setattr(references, "train_task_shadows", lambda *a, **k: trained.append(1))
    start = time.perf_counter()
    with pytest.raises(ModelError, match=f"cannot read model .*{target.name}"):
        pipeline.make_submission(settings)
    assert time.perf_counter() - start < 30 and not trained and not marker.exists()
    target.write_bytes(target.read_bytes()[:100])  # truncated
    with pytest.raises(ModelError, match="cannot read model"):
        pipeline.make_submission(settings)
    assert not trained


def test_2026_submission_end_to_end_writes_id_score(task26, tmp_path, monkeypatch):
    """``mia submit --track tml26`` with nothing else but the data folder (no shadows here, for speed)."""
    from click.testing import CliRunner

    from toolkit.cli import cli

    folder, gt = task26
    monkeypatch.chdir(tmp_path)
    args = ["submit", "--track", "tml26", "--data", str(folder), "--cache-dir", str(tmp_path / "c")]
    res = CliRunner().invoke(cli, args + ["--budget", "0"])  # the probe: no pair of shadows fits
    assert res.exit_code == 0, res.output
    assert "target: model.pt, resnet18_cifar" in res.output and "shadows: none (no pair" in res.output
    csvs = sorted((tmp_path / "submissions" / "tml26").glob("*.csv"))
    assert len(csvs) == 1, res.output
    head = csvs[-1].read_text().splitlines()[0]
    assert head == "id,score"
    ids, scores = read_submission_csv(csvs[-1], gt["ids"][40:], id_column="id")
    assert len(ids) == 30 and 0 <= scores.min() and scores.max() <= 1
    man = json.loads(csvs[-1].with_suffix(".manifest.json").read_text())
    assert set(man["inputs"]) == {"pub.pt", "priv.pt", "model.pt"} and man["track"] == "tml26"
    corrected = man["corrected"]
    assert corrected["raw"] == man["validation"][man["chosen"]]["tpr@5%fpr_strict"]
    assert corrected["ci"][0] <= corrected["estimate"] <= corrected["ci"][1] and "BBC-CV" in corrected["method"]
    assert "expected on the hidden answers: TPR@5%FPR" in res.output
