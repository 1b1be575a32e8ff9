"""What ``submit`` prints for the ResNet18 task: shadows and their check, the ranking, the choice, the cost."""

from __future__ import annotations

from toolkit.tml.board import STRICT

__all__ = ["format_validation", "ranking_lines", "corrected_lines"]


def ranking_lines(manifest: dict, top: int = 10) -> list[str]:
    """The validation ranking's first ``top`` rows (and the chosen one wherever it is), one line each."""
    ranking = manifest.get("ranking") or [
        {"label": n, "chosen": n == _chosen(manifest)}
        for n in sorted(manifest["validation"], key=lambda n: -manifest["validation"][n][STRICT])
    ]
    shown = ranking[:top] + [r for r in ranking[top:] if r.get("chosen")]
    width = max([len(r["label"]) for r in shown] + [10])
    lines = []
    for i, r in enumerate(shown, 1):
        fig = manifest["validation"][r["label"]]
        board = fig["board_slice"]
        lo, hi = fig["tpr_ci95"]
        mark = "  <- submitted" if r.get("chosen") else ""
        lines.append(
            f"  {i:>2}. {r['label']:<{width}} TPR@5%FPR {fig[STRICT]:.3f} [{lo:.3f}, {hi:.3f}] "
            f"AUC {fig['auc']:.3f}  board slice {board['mean']:.3f} ± {board['std']:.3f}{mark}"
        )
    return lines


def corrected_lines(manifest: dict) -> list[str]:
    """The submitted figure corrected for the choice, and the board slice expected from it (empty before it existed)."""
    c = manifest.get("corrected")
    if not c:
        return []
    board = c["board_slice"]
    return [
        f"expected on the hidden answers: TPR@5%FPR {c['estimate']:.3f} [{c['ci'][0]:.3f}, {c['ci'][1]:.3f}] "
        f"(its validation figure {c['raw']:.3f}, corrected for picking the best of {c['candidates']}: BBC-CV)",
        f"expected board (30% slice): {board['mean']:.3f} ± {board['std']:.3f}, 90% of slices in "
        f"[{board['p5']:.3f}, {board['p95']:.3f}]",
    ]


def _chosen(manifest: dict) -> str:
    """The submitted candidate's label (a manifest without a ranking names its recipe's attack)."""
    return manifest.get("chosen") or manifest["recipe"]["attack"]


def _shadow_lines(manifest: dict) -> list[str]:
    sh = manifest.get("shadows") or {}
    if not sh.get("n"):
        why = sh.get("note") or "--shadows 0"
        return [f"shadows: none ({why}): reference attacks skipped"]
    budget = f", budget {sh['budget_s'] / 60:.0f} min" if sh.get("budget_s") else ""
    lines = [f"shadows: {sh['n']} in {sh['dir']} ({sh['seconds_this_run']:.0f} s this run{budget})"]
    for row in sh.get("match") or []:
        smooth = f" label smoothing {row['label_smoothing']:g}" if row.get("label_smoothing") else ""
        lines.append(f"  --match epochs {row['epochs']} lr {row['lr']:g}{smooth}: distance {row['distance']:.3f}")
    if sh.get("check"):
        lines.append(sh["check"]["verdict"])
    return lines


def format_validation(manifest: dict) -> str:
    """Shadows, the ranking (validation: out-of-fold on the public set), what was submitted, files, seconds."""
    lines = [manifest["target"]] if manifest.get("target") else []
    lines += _shadow_lines(manifest)
    lines.append(
        f"validation ranking (out-of-fold on the public set, {manifest.get('folds')} folds, 95% bootstrap CI):"
    )
    lines += ranking_lines(manifest)
    how = "ranked first" if manifest["recipe"]["attack"] == "auto" else "fixed in track.toml"
    lines.append(f"submitted: {_chosen(manifest)} ({how})")
    lines += corrected_lines(manifest)
    secs = manifest.get("seconds") or {}
    if secs:
        lines.append("seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in secs.items()))
    lines.append(f"wrote {manifest['csv']} and {manifest['manifest']}")
    if manifest.get("report"):
        lines.append(f"report: {manifest['report']}")
    return "\n".join(lines)
