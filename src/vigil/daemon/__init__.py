"""``vigil up``: the composition root (``main``) that wires clock, store, engine, targets and
the API server and handles signals, and the ``manager``, a registry of targets by name and ID
with compose's ``depends_on``, ``up``/``down`` and ``wait``.

May import everything below it: ``vigil.runtime``, ``vigil.targets``, ``vigil.store``,
``vigil.docker``, ``vigil.compose``, ``vigil.core``, ``vigil.api``.
"""
