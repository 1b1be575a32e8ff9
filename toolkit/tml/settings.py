"""The settings of one ``tml`` submission, held once: the run's context, the track's recipe, the command's options.

``mia tml submit`` and ``mia submit`` build one ``TMLSettings`` (``from_context``) from the run
``Context`` (``toolkit.context``), the track's recipe and ``[shadow]`` table (checked when its
``track.toml`` was read) and the command's own options; the kind (``submit_task``) and the pipeline
(``make_submission``) read its fields. It is frozen: nothing changes a run's settings under it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from toolkit.tml.references import DEFAULT_BUDGET_MIN, MAX_SHADOWS
from toolkit.tracks import Track, load_track

if TYPE_CHECKING:
    from toolkit.context import Context
    from toolkit.models.training import TrainConfig

__all__ = ["TMLSettings"]


@dataclass(frozen=True, kw_only=True)
class TMLSettings:
    """Everything one submission runs with (``make_submission``), every field by name."""

    track: Track = field(default_factory=lambda: load_track("resnet18"))  # layout, architecture, CSV
    data_dir: Path  # the task folder: the track's [files]
    out_dir: Path  # <run>.csv, its manifest and scores go here
    attack: str = "ensemble"  # the recipe; "auto" ranks every candidate and submits the first
    params: Mapping[str, Any] = field(default_factory=dict)
    compare: tuple[str, ...] = ("threshold", "lira", "rmia")  # validated beside a fixed attack
    views: tuple[str, ...] = ("orig",)
    folds: int = 5  # out-of-fold validation on the public set
    seed: int = 0  # of the folds, shadows and attacks
    shadows: int | None = 0  # None: as many as ``budget_s`` seconds hold (≤ ``max_shadows``); 0: none
    budget_s: float | None = None
    max_shadows: int = MAX_SHADOWS
    match: bool = False  # first search epochs/lr for shadows like the target
    pool: str = "all"  # the shadows' training pool: 'pub' or 'all'
    shadow_dir: Path | None = None  # default: <task>_shadows/<recipe hash>
    train: TrainConfig | None = None  # the shadows' recipe; None: ``[shadow]``'s defaults
    cache_dir: Path | None = None
    jobs: int = 1
    progress: bool = True
    run_name: str | None = None  # the files' stem; default: a timestamp
    n_boot: int = 200  # bootstrap resamples of each figure's CI
    n_sims: int = 200  # simulated board slices

    @classmethod
    def from_context(
        cls,
        ctx: Context,
        *,
        out_dir: Path | None = None,
        shadows: int | None = None,
        budget_min: float | None = None,
        max_shadows: int | None = None,
        epochs: int | None = None,
        model: str | None = None,
        **fields,
    ) -> TMLSettings:
        """A command's settings: ``ctx``'s fields, the track's recipe and ``[shadow]`` recipe, the options given.

        ``out_dir`` defaults to ``submissions/<track>``; ``shadows`` None trains as many as ``budget_min``
        minutes hold (default ``DEFAULT_BUDGET_MIN``), at most ``max_shadows`` (default ``MAX_SHADOWS``);
        ``model``/``epochs`` override track.toml's recipe and ``[shadow]``. ``fields`` are the settings'
        own (``match``, ``shadow_dir``, ``folds``, ``run_name``), as given.
        """
        from toolkit.tml.references import default_train_config
        from toolkit.tracks import ShadowTraining
        from toolkit.views import parse_views

        track = ctx.track
        recipe = track.scenarios[0].recipe
        return cls(
            track=track,
            data_dir=ctx.data_dir,
            out_dir=out_dir or Path("submissions") / track.name,
            attack=recipe.attack,
            params=MappingProxyType(dict(recipe.params) | ({"model": model} if model else {})),
            views=tuple(ctx.views or parse_views(track.views)),
            seed=ctx.seed,
            shadows=shadows,
            budget_s=60.0 * (DEFAULT_BUDGET_MIN if budget_min is None else budget_min),
            max_shadows=max_shadows or MAX_SHADOWS,
            train=default_train_config(track.shadow or ShadowTraining(), ctx.seed, epochs),
            cache_dir=ctx.cache_dir,
            jobs=ctx.jobs,
            progress=ctx.progress,
            **fields,
        )
