"""The printed metrics table of a MICO run: the scorer's figures per scenario and method, the ranking
figure with its interval, and the lines each scenario's extras add (references, ``auto``'s ranking, the DP
ceiling, the empirical ε bound). It reads the summary the attack stage wrote (or a manifest's) and nothing else.
"""

from __future__ import annotations

import numpy as np

from toolkit.context import KIND_FACTS
from toolkit.metrics import FPR_GRID, metric_key, pooled_ci
from toolkit.mico.auto import DEFAULT_RULE

__all__ = ["format_table", "ranking_lines", "ceiling_line", "METRIC_COLUMNS", "LEADERBOARD_FPR", "RANKING_KEY"]

METRIC_COLUMNS = [metric_key(x) for x in FPR_GRID] + ["AUC", "MIA", "accuracy"]
LEADERBOARD_FPR = KIND_FACTS["mico"].leaderboard_fpr  # MICO ranks by TPR at FPR < 10%, pooled over a phase
RANKING_KEY = metric_key(LEADERBOARD_FPR)  # the scorer's name for that figure: TPR_FPR_1000


def format_table(summary: dict, source: str = "final") -> str:
    """A metrics table per scenario for the recipe and the baseline, then the ranking figure."""
    cols = METRIC_COLUMNS
    w = max([18, *(len(s) + 2 for s in summary)])  # a long scenario name must not run into the method
    ci_head = f"95% CI of {RANKING_KEY}"
    head = f"{'scenario':<{w}}{'method':<10}{'answers':<12}" + "".join(f"{c:>14}" for c in cols) + f"  {ci_head}"
    lines = [head, "-" * len(head)]
    ranking: dict[str, list[tuple[float, list[float] | None]]] = {}
    for scenario, meta in summary.items():
        for method in ("recipe", "baseline"):
            if method not in meta["metrics"]:
                continue
            m = meta["metrics"][method]
            where = source if source in m else "validation"
            row = m[where]
            ci = row.get("ci95")
            shown = f"  [{ci[0]:.4f}, {ci[1]:.4f}]" if ci else ""
            lines.append(f"{scenario:<{w}}{method:<10}{where:<12}" + "".join(f"{row[c]:>14.4f}" for c in cols) + shown)
            ranking.setdefault(method, []).append((row[RANKING_KEY], ci))
    lines.append("")
    for method, rows in ranking.items():
        mean = f"mean {RANKING_KEY} over {len(rows)} scenarios"
        vals, cis = [v for v, _ in rows], [ci for _, ci in rows]
        lo_hi = pooled_ci(vals, cis) if all(cis) else None
        shown = f" [{lo_hi[0]:.4f}, {lo_hi[1]:.4f}]" if lo_hi else ""
        lines.append(f"ranking figure, {method:<9} ({mean}): {np.mean(vals):.4f}{shown}")
    for scenario, meta in summary.items():
        refs = meta.get("references") or {}
        if refs.get("n_local"):
            lines.append(f"local references, {scenario}: {refs['n_local']} of our own; {refs['verdict']}")
        if "matched" in meta:
            m = meta["matched"]
            lines.append(
                f"matched references, {scenario}: {m['per_target']} per target; chosen on validation: "
                f"{m['chosen']} ({m['objective']:.4f})"
            )
    for scenario, meta in summary.items():
        if "auto" in meta:
            lines += ["", *ranking_lines(scenario, meta["auto"])]
    if any("auto" in meta for meta in summary.values()):
        lines.append("")
    for scenario, meta in summary.items():
        if meta.get("dp_ceiling"):
            m = meta["metrics"]["recipe"]
            where = source if source in m else "validation"
            lines.append(ceiling_line(scenario, meta["dp_ceiling"], m[where][RANKING_KEY], LEADERBOARD_FPR, where))
        elif meta.get("dp_ceiling_missing"):
            lines.append(f"DP ceiling, {scenario}: not computed ({meta['dp_ceiling_missing']})")
        if "epsilon_lower_bound" in meta:
            e = meta["epsilon_lower_bound"]
            lines.append(
                f"empirical ε lower bound, {scenario} (claimed ε={e['claimed']:g}, δ={e['delta']:g}, "
                f"{1 - e['alpha']:.0%} confidence, validation split): {e['eps_lower']:.3f} "
                f"(point estimate {e['eps_point']:.3f})"
            )
    return "\n".join(lines)


def ranking_lines(name: str, sel: dict, top: int = 8) -> list[str]:
    """The printed ranking: the top candidates with their CIs, the one(s) chosen and the rule that chose."""
    rule = sel.get("rule", DEFAULT_RULE)
    how = f"; chosen by rule {rule}" + (" (mean rank of the picks)" if sel.get("combine") == "rank_mean" else "")
    lines = [f"auto ranking, {name} (validation, objective = strict TPR@FPR + 1e-3·AUC, 95% model-bootstrap CI{how}):"]
    shown = sel["ranking"][:top] + [r for r in sel["ranking"][top:] if r["chosen"]]
    for i, r in enumerate(shown, 1):
        mark = "  <- chosen" + (f" ({r['note']})" if r.get("note") else "") if r["chosen"] else ""
        lines.append(f"  {i:>2}. {r['label']:<44} {r['objective']:.4f} [{r['ci'][0]:.4f}, {r['ci'][1]:.4f}]{mark}")
    c = sel.get("corrected")
    if c:
        lines.append(
            f"  the pick, corrected for the choice (BBC-CV over {c['candidates']} candidates): TPR {c['estimate']:.4f} "
            f"[{c['ci'][0]:.4f}, {c['ci'][1]:.4f}]; its validation TPR {c['raw']:.4f}"
        )
    return lines


def _short(x: float) -> str:
    return f"{x:g}".replace("e-0", "e-")  # 1e-5, not 1e-05


def ceiling_line(scenario: str, ceiling: dict, figure: float | None, fpr: float, where: str = "final") -> str:
    """One printed line: the scenario's figure at ``fpr`` beside its recipe's ceiling there."""
    c = ceiling
    got = f"{figure:.3f} at {fpr:.0%} FPR ({where})" if figure is not None else f"at {fpr:.0%} FPR"
    return (
        f"DP ceiling, {scenario}: {got}; no attack can pass {c['tpr_ceiling'][metric_key(fpr)]:.3f} under this "
        f"recipe (ε={c['epsilon']:g}, δ={_short(c['delta'])}, q={c['sample_rate']:.4g}, T={c['steps']}, "
        f"σ={c['noise_multiplier']:.4g}; {c['library']})"
    )
