"""DP ceilings of every DP scenario of the built-in tracks: the recipe (q, T, σ) and the highest TPR any
attack can reach under it, with the seconds each took to compute (cold cache) and to read back (warm).

No data is needed: a ceiling depends on the track's recipe only (``toolkit.mico.ceiling``). The cache
goes under ``--work`` (default: a fresh temporary folder, so that "cold" is cold).

    python benchmarks/dp_ceilings.py                       # every built-in track with a DP scenario
    python benchmarks/dp_ceilings.py --tracks demo,cifar10
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from pathlib import Path

COLUMNS = ("track", "scenario", "ε", "δ", "q", "T", "σ", "acc.", "TPR@0.1%", "TPR@1%", "TPR@10%", "cold s", "warm s")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tracks", default="", help="comma-separated (default: every built-in track with DP)")
    p.add_argument("--work", type=Path, default=None, help="the cache folder (default: a new temporary one)")
    args = p.parse_args()
    os.environ["MIA_CACHE_DIR"] = str(args.work or tempfile.mkdtemp(prefix="dp_ceilings_"))
    warnings.simplefilter("ignore")  # Opacus's RDP notes on its order grid

    from toolkit.mico.ceiling import recipe_ceiling
    from toolkit.privacy import accounting_library
    from toolkit.tracks import list_tracks, load_track

    names = [t for t in args.tracks.split(",") if t] or list_tracks()
    print(f"{accounting_library()}; cache {os.environ['MIA_CACHE_DIR']}")
    print(" | ".join(COLUMNS))
    for name in names:
        track = load_track(name)
        for sc in (s for s in track.scenarios if s.dp):
            t0 = time.perf_counter()
            c = recipe_ceiling(track, sc)
            t1 = time.perf_counter()
            recipe_ceiling(track, sc)
            t2 = time.perf_counter()
            if c is None:
                continue
            at = c["tpr_ceiling"]
            row = [name, sc.name, f"{c['epsilon']:g}", f"{c['delta']:g}", f"{c['sample_rate']:.5f}", c["steps"]]
            row += [f"{c['noise_multiplier']:.4f}", c["accountant"]]
            row += [f"{at[k]:.3f}" for k in ("TPR_FPR_10", "TPR_FPR_100", "TPR_FPR_1000")]
            print(" | ".join(map(str, row + [f"{t1 - t0:.1f}", f"{t2 - t1:.3f}"])), flush=True)


if __name__ == "__main__":
    main()
