"""What vigil watches: the ``Target`` protocol and its kinds, a process vigil owns
(``supervised``, with its json-file ``logs``) and a service it only watches (``watched``);
later a Docker container and a remote endpoint.

A target is the single writer of its process state; it publishes every lifecycle fact as a
typed ``vigil.core.events`` value. May import: ``vigil.core``, ``vigil.go``, ``vigil.linux``,
``vigil.runtime.clock``, ``vigil.exceptions``.
"""
