"""How every kind chooses what it submits: the candidates and their per-target transforms, the ranking with
its intervals, the decision rules (with the choice's corrected figure), and the stackers. Arrays in, a pick
out; each kind builds its candidates' scores from its own data (``mico.auto``, ``tml.validation``)."""

__all__: list[str] = []  # import the modules themselves
