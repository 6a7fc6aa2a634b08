"""The model: Docker's health and container-lifecycle rules as pure functions and frozen values.

Health (``health``), process lifecycle and restart policy (``lifecycle``), config values and
probe specs (``config``), probe results (``results``), the typed target events (``events``),
statuses (``status``), signals (``signals``), the dependency graph (``deps``) and the rules
for names and user specs that every edge applies (``names``).

May import: the standard library, ``vigil.go`` and ``vigil.exceptions`` only. No clock, no
I/O, no asyncio, no logging: every time is an argument. ``tests/core/test_core_purity.py``
walks this folder to prove it.
"""
