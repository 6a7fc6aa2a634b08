"""The async runtime of the library: the clock seam, the engine (the single writer of every
target's health), one monitor task per target, and the typed event stream.

May import: ``vigil.core``, ``vigil.go``, ``vigil.probes``, ``vigil.targets``, ``vigil.store``,
``vigil.exceptions``. Knows nothing of Docker's JSON, the daemon, the API or the CLI.
"""
