"""A chaos soak for ``exitguard run``: the paper venue and the manager as subprocesses, a seeded
scenario of prices, positions, Spot balances, faults and ``kill -9``, and an invariant checker
over the venue's snapshots. ``python -m exitguard.soak --seconds N --seed S --out report.json``;
see :mod:`.generator`, :mod:`.checker` (with :mod:`.episodes`), :mod:`.harness` and
:mod:`.runner`."""
