"""A practice ResNet18 task, and a submission's figures on its hidden private answers.

    python benchmarks/tml_task.py build --out /tmp/r18 --answers /tmp/r18_answers.npz [--seed 0]
    mia tml submit --data /tmp/r18 --run default          # or: make track=resnet18 submit DATA=/tmp/r18
    python benchmarks/tml_task.py score submissions/resnet18/default.csv --answers /tmp/r18_answers.npz \
        [--task /tmp/r18]

    python benchmarks/tml_task.py build --track tml26 --n 2000 --out /tmp/t26 --answers /tmp/t26_answers.npz
    mia submit --track tml26 --data /tmp/t26 --run default
    python benchmarks/tml_task.py score submissions/tml26/default.csv --track tml26 --answers /tmp/t26_answers.npz

``build`` writes the organisers' files of the track's edition (``toolkit.tml.build``: 2025
``resnet18``, 2026 ``tml26``) and prints the target's train/test accuracy and the seconds it took.
``score`` prints the CSV's strict TPR@5%FPR and AUC on the answers that the toolkit never read, with a
bootstrap CI; with ``--task`` also the loss threshold's on the same points, measured in the same run
(``hidden_figures``, which ``benchmarks/results.py`` calls too).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def build(args) -> None:
    from toolkit.tml.build import build_task

    start = time.perf_counter()
    from toolkit.tracks import load_track

    track = load_track(args.track)
    epochs = {"train_cfg": _epochs(track, args.epochs, args.seed)} if args.epochs else {}
    acc = build_task(args.out, args.answers, track=track, n_pub=args.n, n_priv=args.n, seed=args.seed, **epochs)
    print(
        f"built {args.out}: target train acc {acc['train_acc']:.3f}, test acc {acc['test_acc']:.3f} "
        f"({time.perf_counter() - start:.0f} s); answers in {args.answers}"
    )


def _epochs(track, epochs: int, seed: int):
    from toolkit.tml.references import default_train_config
    from toolkit.tracks import ShadowTraining

    return default_train_config(track.shadow or ShadowTraining(), seed, epochs)


def hidden_figures(csv: Path, answers: Path, track, task_dir: Path | None = None, n_boot: int = 500) -> dict:
    """The CSV's strict TPR@5%FPR (with a bootstrap CI over points) and AUC on the hidden answers; with
    ``task_dir`` also the loss threshold's on the same points, computed from the target's outputs."""
    from sklearn.metrics import roc_auc_score

    from toolkit.metrics import figure_ci, objective_value
    from toolkit.tml.package import read_submission_csv
    from toolkit.tracks import Upload

    with np.load(answers) as a:
        ids, member = a["ids"], a["membership"].astype(np.int64)
    got_ids, got = read_submission_csv(Path(csv), ids, id_column=(track.upload or Upload()).id_column)
    order = np.argsort(got_ids)
    s = got[order][np.searchsorted(got_ids[order], ids)]

    def figure(scores):
        tpr = objective_value(member, scores, 0.05)[1]
        return {
            "value": tpr,
            "ci": figure_ci(member, scores, 0.05, n_boot=n_boot),
            "auc": roc_auc_score(member, scores),
        }

    out = {"submitted": figure(s)}
    if task_dir:
        from toolkit.data.tml import layout_of, load_task
        from toolkit.signals import loss
        from toolkit.tml.pipeline import collect_outputs

        task = load_task(Path(task_dir), layout_of(track))
        outs = collect_outputs(task, progress=False, architecture=track.architecture)
        priv_ids = outs.ids[outs.n_pub :]
        order = np.argsort(priv_ids)
        rows = outs.n_pub + order[np.searchsorted(priv_ids[order], ids)]
        out["loss threshold"] = figure(-loss(outs.target[rows], outs.labels[rows])[:, 0])
    return out


def score(args) -> None:
    from toolkit.tracks import load_track

    figures = hidden_figures(Path(args.csv), args.answers, load_track(args.track), args.task)
    for name, f in figures.items():
        lo, hi = f["ci"]
        print(f"{name}: TPR@5%FPR {f['value']:.3f} [{lo:.3f}, {hi:.3f}]  AUC {f['auc']:.3f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="write a practice task and its hidden answers")
    b.add_argument("--out", type=Path, required=True)
    b.add_argument("--answers", type=Path, required=True)
    b.add_argument("--n", type=int, default=4000, help="points in each of pub and priv")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--epochs", type=int, default=None, help="the target's epochs (default: the track's [shadow])")
    s = sub.add_parser("score", help="a CSV's figures on the hidden answers")
    s.add_argument("csv")
    s.add_argument("--answers", type=Path, required=True)
    s.add_argument("--task", type=Path, default=None, help="the task folder, for the loss threshold's figure")
    for sp in (b, s):
        sp.add_argument("--track", default="resnet18", help="the edition: resnet18 (2025) or tml26 (2026)")
    args = p.parse_args()
    from toolkit.errors import ToolkitError

    try:
        build(args) if args.cmd == "build" else score(args)
    except ToolkitError as exc:
        raise SystemExit(f"Error: {exc}") from None


if __name__ == "__main__":
    main()
