"""Linux process plumbing: one launcher (``launch.LaunchSpec`` -> ``launch``/``launch_async``:
posix_spawn / vfork, pidfds, a worker thread that spawns with the GIL released), process
groups, reaping and the child subreaper.

Used by exec probes and supervised targets alike. May import: ``vigil.core``, ``vigil.go``,
``vigil.exceptions`` and the standard library.
"""
