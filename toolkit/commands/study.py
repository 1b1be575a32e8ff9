"""``mia study scaling|imbalance`` and ``mia audit unlearning``: thin wrappers over toolkit.studies."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from toolkit.commands.options import CommaList, attacks_option, out_option, seed_option

__all__ = ["COMMANDS", "study", "audit"]

_out = out_option("Root folder; results go to <out>/studies/<name>/<timestamp>/.", dest="out_root")


@click.group()
def study():
    """Reproducible studies of what drives attack success.

    \b
    Example:
      mia study scaling --widths 16,64,256 --repeats 5
    """


@study.command()
@click.option("--widths", type=CommaList(int), default="16,32,64,128,256", show_default=True, help="Hidden widths.")
@click.option(
    "--repeats", type=click.IntRange(1), default=3, show_default=True, help="Target models trained per width."
)
@click.option("--shadows", type=click.IntRange(1), default=3, show_default=True, help="Shadow models per target.")
@seed_option(help="Seed of the data, the models and the attacks.")
@attacks_option("shokri,loss", "Registered attacks, plus aliases 'loss' (threshold on loss) and 'shokri-sorted'.")
@click.option(
    "--dataset",
    default="gaussian",
    show_default=True,
    help="'gaussian' (the source's clusters) or a population, e.g. demo.",
)
@click.option(
    "--shadow-centres",
    type=click.Choice(["same", "redraw"]),
    default="same",
    show_default=True,
    help="'redraw' gives each shadow its own cluster centres, as the source's code did.",
)
@click.option(
    "--batch-size", type=click.IntRange(1), default=64, show_default=True, help="≥ 250 gives full-batch Adam."
)
@_out
def scaling(widths, repeats, shadows, seed, attacks, dataset, shadow_centres, batch_size, out_root):
    """Model size vs overfitting vs attack AUC (Shokri et al.'s shadow-model setup).

    \b
    Example:
      mia study scaling --attacks shokri,lira,loss --repeats 5 --seed 1
    """
    from toolkit.studies.report import run_dir
    from toolkit.studies.scaling import ScalingConfig, run_scaling, write_scaling_report

    cfg = ScalingConfig(
        widths=widths,
        repeats=repeats,
        shadows=shadows,
        seed=seed,
        dataset=dataset,
        attacks=attacks,
        shadow_centres=shadow_centres,
        batch_size=batch_size,
    )
    t0 = time.time()
    res = run_scaling(
        cfg,
        progress=lambda r: click.echo(
            f"width {r['width']:4d} repeat {r['repeat']}: gap {r['gap']:.3f} "
            + " ".join(f"{a} {r['auc_' + a]:.3f}" for a in cfg.attacks),
            err=True,
        ),
    )
    res["runtime_s"] = round(time.time() - t0, 2)
    out = run_dir(out_root, "scaling")
    write_scaling_report(res, out)
    click.echo(f"{out / 'report.md'} ({res['runtime_s']} s)")


@study.command()
@click.option(
    "--levels",
    type=CommaList(),
    default="none,mild,severe,reverse_mild,reverse_severe",
    show_default=True,
    help="Imbalance levels of the target's training data.",
)
@click.option(
    "--sweep",
    type=CommaList(float),
    default="0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9",
    show_default=True,
    help="Removal rates for classes 0–2 ('' to skip).",
)
@click.option("--n-ref", type=click.IntRange(1), default=8, show_default=True, help="Reference models per level.")
@click.option("--attack", default="auto", show_default=True, help="auto = lira, else rmia, else hardness.")
@click.option("--epochs", type=click.IntRange(1), default=30, show_default=True, help="Training epochs per model.")
@click.option("--no-imbalanced-refs", is_flag=True, help="Skip the equally-imbalanced reference variant.")
@click.option("--dataset", default="demo", show_default=True, help="The population the models train on.")
@seed_option(help="Seed of the data, the models and the attacks.")
@_out
def imbalance(levels, sweep, n_ref, attack, epochs, no_imbalanced_refs, dataset, seed, out_root):
    """Class imbalance in the target's training data vs attack success.

    \b
    Example:
      mia study imbalance --levels none,severe --sweep '' --n-ref 4
    """
    from toolkit.studies.imbalance import ImbalanceConfig, run_imbalance, write_imbalance_report
    from toolkit.studies.report import run_dir

    cfg = ImbalanceConfig(
        levels=levels,
        sweep=sweep,
        n_ref=n_ref,
        attack=attack,
        epochs=epochs,
        imbalanced_refs=not no_imbalanced_refs,
        dataset=dataset,
        seed=seed,
    )
    t0 = time.time()
    res = run_imbalance(
        cfg,
        progress=lambda name, r: click.echo(
            f"{name}: " + " ".join(f"{k} AUC {v['AUC']:.3f}" for k, v in r["attacks"].items()), err=True
        ),
    )
    res["runtime_s"] = round(time.time() - t0, 2)
    out = run_dir(out_root, "imbalance")
    write_imbalance_report(res, out)
    click.echo(f"{out / 'report.md'} ({res['runtime_s']} s)")


@click.group()
def audit():
    """Audits of a trained model.

    \b
    Example:
      mia audit unlearning --model m.pt --retain r.npz --forget f.npz --holdout h.npz
    """


@audit.command()
@click.option(
    "--model",
    "model_path",
    type=click.Path(exists=True, path_type=Path),
    required=True,
    help="The model's weights (a state dict).",
)
@click.option(
    "--retain", type=click.Path(exists=True, path_type=Path), required=True, help=".npz with x, y (trained on)."
)
@click.option(
    "--forget", type=click.Path(exists=True, path_type=Path), required=True, help=".npz with x, y (unlearned)."
)
@click.option(
    "--holdout",
    type=click.Path(exists=True, path_type=Path),
    required=True,
    help=".npz with x, y: never trained on, and drawn like the forget set (same kind of points).",
)
@click.option("--arch", default="demo_mlp", show_default=True, help="The model's architecture (a registered name).")
@click.option("--n-classes", type=click.IntRange(2), default=10, show_default=True, help="The model's classes.")
@click.option(
    "--fpr",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.05,
    show_default=True,
    help="The false-positive rate the member rates are read at.",
)
@seed_option(help="Seed of the audit's random splits and intervals.")
@click.option("--json", "as_json", is_flag=True, help="Print the full result as JSON.")
def unlearning(model_path, retain, forget, holdout, arch, n_classes, fpr, seed, as_json):
    """Did the model forget the forget set? Member rate of forget vs unseen data at a fixed FPR.

    \b
    Example:
      mia audit unlearning --model unlearned.pt --retain retain.npz --forget forget.npz \\
          --holdout holdout.npz --arch demo_mlp --n-classes 10
    """
    from toolkit.models import load_model
    from toolkit.studies.unlearning import audit_unlearning, load_split, model_logits

    model = load_model(arch, model_path, n_classes)
    parts = [load_split(p) for p in (retain, forget, holdout)]
    args = [a for x, y in parts for a in (model_logits(model, x), y)]
    res = audit_unlearning(*args, fpr=fpr, seed=seed)
    if as_json:
        click.echo(json.dumps(res, indent=2))
        return
    for k, r in res["rates"].items():
        click.echo(f"{k:15s} member rate {r['rate']:.3f} [{r['low']:.3f}, {r['high']:.3f}]")
    click.echo(f"p = {res['p_value']:.3g} (forget > holdout, Fisher exact): {res['verdict']}")


COMMANDS = [study, audit]
