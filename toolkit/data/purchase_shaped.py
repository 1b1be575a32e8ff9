"""A Purchase-100-shaped population made in memory: 600 binary features, 100 skewed classes, no download.

MICO's tabular task is Purchase-100 (Shokri et al. 2017): 197,324 shoppers, 600 binary "bought
product j" features, labels from k-means into 100 clusters; its MLP (600 → 128 → 100) fits the
training set almost perfectly but generalises worse, which is what membership inference feeds on.
This module draws a look-alike from seeded numpy so that attack choices can be measured at the
competition's shape (600 features, 100 classes, 2m = 200 challenge points, thousands of rows)
rather than on the 1,797 digits of the demo track:

- a long-tailed (Zipf) class prior: k-means clusters of real shoppers are unequal, and rare
  classes are where a model memorises most (Feldman 2020), so the skew matters to the attacks;
- class prototypes = Bernoulli probabilities per feature, built in two levels (shopper "types"
  shared by several classes, then each class's own products) so that some classes are close, as
  neighbouring k-means clusters are;
- each row samples every feature independently from its class's prototype (per-feature Bernoulli
  noise): learnable, yet noisy enough that an MLP overfits;
- a few % of labels flipped at random: the mislabelled outliers every MIA paper finds most exposed.

Two sizes are registered: ``purchase_shaped`` (``SIZES["purchase_shaped"]`` rows, the local track
that builds in minutes on two cores) and ``purchase_shaped_full`` (MICO's 197,324 rows). Rows are
generated in fixed blocks, each from its own seed, so the small population is exactly the first
rows of the full one. ``purchase_shaped_seed<k>`` (k in ``OTHER_SEEDS``) is the small size drawn
from another seed (another class prior order, other prototypes, other rows): the same shape on
other data, so that a choice measured over several populations is not tuned to one.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from toolkit.data import Population, register_dataset
from toolkit.io import sha256_bytes

__all__ = [
    "SIZES",
    "N_FEATURES",
    "N_CLASSES",
    "LABEL_NOISE",
    "class_prior",
    "prototypes",
    "generate",
    "load_purchase_shaped",
    "load_purchase_shaped_full",
    "OTHER_SEEDS",
]

SIZES = {"purchase_shaped": 20_000, "purchase_shaped_full": 197_324}
N_FEATURES = 600
N_CLASSES = 100
SEED = 2023
OTHER_SEEDS = (1, 2, 3, 4)  # purchase_shaped_seed<k>: other populations of the small size
ZIPF_EXPONENT = 0.5  # most / least frequent class = 100 ** 0.5 = 10
LABEL_NOISE = 0.03  # a few % mislabelled rows: memorised by the non-DP MLP (train accuracy ≈ 1.0), hence exposed
N_TYPES = 20  # shopper types, each shared by N_CLASSES / N_TYPES classes
TYPE_FEATURES = 40  # products a shopper type favours
CLASS_FEATURES = 12  # products one class favours on top of its type's
BASE_A, BASE_B = 1.0, 12.0  # Beta prior of a product's background popularity (mean ≈ 0.08)
TYPE_P, CLASS_P = 0.35, 0.30  # purchase probability of a type's / a class's favoured products
# CLASS_FEATURES and CLASS_P set the difficulty, measured with mico_mlp at n = 15,000 (the track's len_training):
# 12 products at 0.30 give train ≈ 1.00 / test ≈ 0.70 (Bayes-optimal ≈ 0.85, so the gap is overfitting, not
# ambiguity); 25 at 0.45 gave test 0.95, too easy to overfit, and 15 at 0.30 test 0.77.
_BLOCK = 10_000  # rows per independently seeded block: sizes share their leading rows


def class_prior(n_classes: int = N_CLASSES, exponent: float = ZIPF_EXPONENT, seed: int = SEED) -> np.ndarray:
    """Zipf prior p_k ∝ (rank_k)^-s over ranks 1..C (float64 [C], sums to 1).

    s = 0.5 gives a 10× ratio between the most and least frequent class over 100 classes: long-tailed
    like k-means clusters of shoppers, yet with ~100 rows in the rarest class at 20,000 rows, so
    that every class is learnable. Ranks are shuffled so that label ids carry no frequency order.
    """
    ranks = np.random.default_rng([seed, 0]).permutation(n_classes) + 1
    p = ranks.astype(np.float64) ** -exponent
    return p / p.sum()


def prototypes(n_classes: int = N_CLASSES, n_features: int = N_FEATURES, seed: int = SEED) -> np.ndarray:
    """Per-class Bernoulli probabilities, float64 [C, d], in two levels (type, then class).

    Every product has a background popularity ~ Beta(a, b) (most products rarely bought, a few often);
    a shopper type raises ``TYPE_FEATURES`` products to ``TYPE_P`` for all its classes, and each class
    raises ``CLASS_FEATURES`` more to ``CLASS_P``. Classes of one type share the type's products, so
    they are confusable the way neighbouring clusters are.
    """
    rng = np.random.default_rng([seed, 1])
    base = rng.beta(BASE_A, BASE_B, size=n_features)
    protos = np.tile(base, (n_classes, 1))
    types = np.arange(n_classes) % N_TYPES
    type_sets = np.argsort(rng.random((N_TYPES, n_features)), axis=1)[:, :TYPE_FEATURES]
    class_sets = np.argsort(rng.random((n_classes, n_features)), axis=1)[:, :CLASS_FEATURES]
    rows = np.arange(n_classes)[:, None]
    protos[rows, type_sets[types]] = np.maximum(protos[rows, type_sets[types]], TYPE_P)
    protos[rows, class_sets] = np.maximum(protos[rows, class_sets], CLASS_P)
    return protos


def _block(b: int, prior: np.ndarray, protos: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows of block ``b`` from seed (seed, 2, b): uint8 features [B, d], int64 labels [B], int64 true classes [B]."""
    rng = np.random.default_rng([seed, 2, b])
    true = rng.choice(len(prior), size=_BLOCK, p=prior)
    x = (rng.random((_BLOCK, protos.shape[1])) < protos[true]).astype(np.uint8)
    flip = rng.random(_BLOCK) < LABEL_NOISE
    # a flipped label is uniform over the other classes; the features keep their true class
    y = np.where(flip, (true + rng.integers(1, len(prior), size=_BLOCK)) % len(prior), true)
    return x, y.astype(np.int64), true.astype(np.int64)


def generate(n: int, seed: int = SEED) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first ``n`` rows: float32 0/1 features [n, 600], int64 labels [n] in [0, 100), and the classes
    the features were drawn from before ``LABEL_NOISE`` flipped some labels (int64 [n], for tests)."""
    prior, protos = class_prior(seed=seed), prototypes(seed=seed)
    blocks = [_block(b, prior, protos, seed) for b in range(-(-n // _BLOCK))]
    x, y, true = (np.concatenate(parts)[:n] for parts in zip(*blocks))
    return x.astype(np.float32), y, true


@lru_cache(maxsize=2)
def _population(name: str, seed: int = SEED) -> Population:
    x, y, _ = generate(SIZES[name.split("_seed")[0]], seed)
    digest = sha256_bytes(x.astype(np.uint8).tobytes() + y.tobytes())[:16]
    return Population(x, y, f"{name}:{digest}", f"generated in memory by {__name__} (seed {seed})")


@register_dataset("purchase_shaped")
def load_purchase_shaped(data_dir=None, dataset_dir=None) -> Population:
    """The local MICO-shaped population (``SIZES["purchase_shaped"]`` rows); reads no files."""
    return _population("purchase_shaped")


@register_dataset("purchase_shaped_full")
def load_purchase_shaped_full(data_dir=None, dataset_dir=None) -> Population:
    """The same generator at MICO's Purchase-100 size (197,324 rows); reads no files."""
    return _population("purchase_shaped_full")


def _register_other_seed(k: int) -> None:
    @register_dataset(f"purchase_shaped_seed{k}")
    def load(data_dir=None, dataset_dir=None) -> Population:
        """The small population drawn from seed ``k`` instead of ``SEED``; reads no files."""
        return _population(f"purchase_shaped_seed{k}", k)


for _k in OTHER_SEEDS:
    _register_other_seed(_k)
