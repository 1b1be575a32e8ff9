"""Membership-inference attacks, one module per family, registered by name.

See ``registry`` for the one signature every attack shares.
"""

from toolkit.attacks.registry import attack_names, attack_params, attack_spec, get_attack, register, run_attack

__all__ = ["attack_names", "attack_params", "attack_spec", "get_attack", "register", "run_attack"]
