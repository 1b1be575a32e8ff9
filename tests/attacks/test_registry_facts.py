"""What each attack registers besides its function (``registry.register``): a missing fact fails at import,
in one line naming the attack; the contract's defaults are filled for direct calls too."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from test_attack_contract import synthetic

from toolkit.attacks import registry
from toolkit.attacks.registry import BOOL, FIXED, FloatRange, attack_names, attack_spec, register
from toolkit.attacks.variants import VARIANTS, stacker_recipes
from toolkit.errors import ConfigError


def fake(target, labels, ref, keep, *, groups=None, seed=0, online: bool = True, two_sided: bool = False):
    return np.zeros(len(labels))


def with_new_knob(target, labels, ref, keep, *, groups=None, seed=0, online: bool = True, new_knob: float = 1.0):
    return np.zeros(len(labels))


FACTS = dict(simplicity=3, needs_references=True, tuning={"online": BOOL, "two_sided": FIXED})


@pytest.fixture
def scratch(monkeypatch):
    """A registry whose additions vanish after the test (the real families loaded, then copied)."""
    attack_names()
    monkeypatch.setattr(registry._ATTACKS, "_entries", dict(registry._ATTACKS._entries))
    monkeypatch.setattr(registry, "_SPECS", dict(registry._SPECS))


def refused(fn, **facts) -> str:
    with pytest.raises(ConfigError) as exc:
        register("fake", **facts)(fn)
    assert "fake" not in registry._SPECS  # nothing half-registered
    assert "\n" not in str(exc.value)
    return str(exc.value)


def test_a_complete_registration_is_accepted(scratch):
    register("fake", **FACTS)(fake)
    spec = attack_spec("fake")
    assert (spec.simplicity, spec.needs_references, spec.variants) == (3, True, ({},))
    assert spec.tuning == {"online": BOOL, "two_sided": FIXED}


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("simplicity", "attack 'fake' is registered without simplicity"),
        ("needs_references", "attack 'fake' is registered without needs_references"),
        ("tuning", "attack 'fake' is registered without a tuning range for parameter 'online'"),
    ],
)
def test_a_missing_fact_is_refused_naming_the_attack(scratch, missing, message):
    facts = {k: v for k, v in FACTS.items() if k != missing}
    assert refused(fake, **facts).startswith(message)


def test_a_parameter_added_without_a_range_or_fixed_is_refused(scratch):
    message = refused(with_new_knob, **{**FACTS, "tuning": {"online": BOOL}})
    assert message.startswith("attack 'fake' is registered without a tuning range for parameter 'new_knob'")
    register("fake", **{**FACTS, "tuning": {"online": BOOL, "new_knob": FIXED}})(with_new_knob)


def test_a_parameter_added_to_a_real_family_is_refused(scratch):
    """lira's facts, on lira's signature plus one keyword: the new keyword is named."""
    lira, spec = registry.get_attack("lira"), attack_spec("lira")

    def lira_plus(*args, **kwargs):
        return lira(*args, **kwargs)

    sig = inspect.signature(lira)
    knob = inspect.Parameter("extra_knob", inspect.Parameter.KEYWORD_ONLY, default=3)
    lira_plus.__signature__ = sig.replace(parameters=[*sig.parameters.values(), knob])
    facts = dict(simplicity=spec.simplicity, needs_references=True, tuning=spec.tuning)
    with pytest.raises(ConfigError, match="^attack 'lira2' is registered without a tuning range for .*'extra_knob'"):
        register("lira2", **facts)(lira_plus)


def test_ranges_variants_and_columns_are_checked_against_the_function(scratch):
    bad_range = {**FACTS, "tuning": {"online": FloatRange(0.0, 1.0), "two_sided": FIXED}}
    assert "with tuning FloatRange" in refused(fake, **bad_range) and "'online'" in refused(fake, **bad_range)
    assert "naming no parameter of it: nope" in refused(fake, **{**FACTS, "variants": [{}, {"nope": 1}]})
    assert "with no variants" in refused(fake, **FACTS, variants=[])
    assert "naming no parameter of it: nope" in refused(fake, **{**FACTS, "tuning": {**FACTS["tuning"], "nope": FIXED}})
    assert "column 0, already 'lira'" in refused(fake, **FACTS, stacker_features={0: {}})


def test_every_family_has_its_facts():
    for name in attack_names():
        spec = attack_spec(name)
        assert isinstance(spec.simplicity, int) and spec.variants and VARIANTS[name] == list(spec.variants)
        assert set(spec.tuning) == set(registry.attack_params(name))
    assert [n for n in attack_names() if not attack_spec(n).needs_references] == ["threshold"]


def test_stacker_features_keep_their_columns():
    assert [r.label() for r in stacker_recipes()] == ["lira", "lira(fix_variance=False)", "rmia", "base", "hardness"]


def test_every_family_has_a_selection_prior_or_fails_here():
    """``auto``'s rule "shrunk" shrinks a family toward its record; one the prior has not seen keeps its own figure
    (``choose.rules``). A new family therefore needs its entry: ``python benchmarks/selection.py --write-prior``."""
    from toolkit.choose.rules import FUSION, load_prior

    prior = load_prior()
    missing = [(dp, f) for dp in (False, True) for f in (*attack_names(), FUSION) if (dp, f) not in prior.means]
    assert missing == [], f"no selection prior for {missing}: run python benchmarks/selection.py --write-prior"


@pytest.mark.parametrize("name", ["rmia", "informia", "ensemble", "lira", "hardness", "base", "bavaria"])
def test_direct_calls_get_the_contracts_defaults(name):
    """No ``groups``: one target; no references in any empty shape: ``ref`` [0, *target.shape]."""
    target, labels, ref, keep, _, _ = synthetic(0, n_ref=4, n_points=60)
    fn = registry.get_attack(name)
    one = np.zeros(len(labels), np.int64)
    np.testing.assert_array_equal(fn(target, labels, ref, keep), fn(target, labels, ref, keep, groups=one))
    np.testing.assert_array_equal(fn(target, labels, np.zeros(0), []), fn(target, labels, ref[:0], keep[:0]))
