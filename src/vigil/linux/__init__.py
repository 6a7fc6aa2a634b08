"""Linux process plumbing: one launcher (``launch.LaunchSpec`` -> ``launch``/``launch_async``:
posix_spawn / vfork, pidfds, a worker thread that spawns with the GIL released), process
groups, reaping and the child subreaper; ``contain``: jails for every process vigil starts
(cgroup2, cgroup v1 freezer or /proc walks: ``cgroups``, ``tree``), the orphan sweep and the
reclaim of a killed daemon's runs; ``guardian``: kills ``vigil check``'s probe if
``vigil check`` is killed.

Used by exec probes and supervised targets alike. May import: ``vigil.core``, ``vigil.go``,
``vigil.exceptions`` and the standard library.
"""
