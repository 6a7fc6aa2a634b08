"""The ``vigil`` command: ``check`` and ``config`` run locally; ``up`` starts the daemon; every
other command is a thin client of the daemon's API (``vigil.client``).

May import: ``vigil.client``, ``vigil.compose``, ``vigil.docker``, ``vigil.go``,
``vigil.core``, ``vigil.runtime`` (for one-shot ``check``), ``vigil.daemon`` (for ``up``).
"""
