"""A Docker engine, reached through its API: the client (``client``), where it is
(``host``: ``DOCKER_HOST``), and what vigil makes of its containers.

The I/O twin of the pure ``vigil.docker`` (which knows Docker's shapes): this package talks to
a real dockerd over its socket. May import: ``vigil.core``, ``vigil.go``, ``vigil.docker``,
``vigil.runtime.clock``, ``vigil.exceptions``.
"""
