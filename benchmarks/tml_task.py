"""A practice ResNet18 task, and a submission's figures on its hidden private answers.

    python benchmarks/tml_task.py build --out /tmp/r18 --answers /tmp/r18_answers.npz [--seed 0]
    mia tml submit --data /tmp/r18 --run default          # or: make track=resnet18 submit DATA=/tmp/r18
    python benchmarks/tml_task.py score submissions/resnet18/default.csv --answers /tmp/r18_answers.npz \
        [--task /tmp/r18]

    python benchmarks/tml_task.py build --track tml26 --n 2000 --out /tmp/t26 --answers /tmp/t26_answers.npz
    mia submit --track tml26 --data /tmp/t26 --run default
    python benchmarks/tml_task.py score submissions/tml26/default.csv --track tml26 --answers /tmp/t26_answers.npz

``build`` writes the organisers' files of the track's edition (``toolkit.tml.build``: 2025 ``resnet18``,
2026 ``tml26``) and prints the target's train/test accuracy and the seconds it took. ``score`` prints the CSV's strict TPR@5%FPR and AUC on the
answers that the toolkit never read, with a bootstrap CI; with ``--task`` also the loss
threshold's on the same points, measured in the same run.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def _figures(y: np.ndarray, s: np.ndarray) -> str:
    from sklearn.metrics import roc_auc_score

    from toolkit.metrics import bootstrap_ci, roc, tpr_at_fpr

    stat = lambda yy, ss: tpr_at_fpr(*roc(yy, ss), 0.05, strict=True)
    est, lo, hi = bootstrap_ci(y, s, stat, n_boot=500, seed=0)
    return f"TPR@5%FPR {est:.3f} [{lo:.3f}, {hi:.3f}]  AUC {roc_auc_score(y, s):.3f}"


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
    from toolkit.tml.shadows import default_train_config
    from toolkit.tracks import ShadowTraining

    return default_train_config(track.shadow or ShadowTraining(), seed, epochs)


def score(args) -> None:
    from toolkit.tml.submission import read_submission_csv
    from toolkit.tracks import Upload, load_track

    track = load_track(args.track)
    with np.load(args.answers) as a:
        ids, member = a["ids"], a["membership"]
    got_ids, got = read_submission_csv(Path(args.csv), ids, id_column=(track.upload or Upload()).id_column)
    order = np.argsort(got_ids)
    s = got[order][np.searchsorted(got_ids[order], ids)]
    print(f"{args.csv}: {_figures(member, s)}")
    if args.task:
        from toolkit.data.tml import layout_of, load_task
        from toolkit.tml.pipeline import collect_outputs

        task = load_task(Path(args.task), layout_of(track))
        outs = collect_outputs(task, progress=False, architecture=track.architecture)
        from toolkit.signals import loss

        priv_ids = outs.ids[outs.n_pub :]
        order = np.argsort(priv_ids)
        rows = outs.n_pub + order[np.searchsorted(priv_ids[order], ids)]

        print(
            f"loss threshold on the same points: {_figures(member, -loss(outs.target[rows], outs.labels[rows])[:, 0])}"
        )


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
