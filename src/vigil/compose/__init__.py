"""The configuration front-end: ``vigil.yaml`` (compose's ``services:`` syntax) and Dockerfile
``HEALTHCHECK`` lines, turned into ``vigil.core.config`` values with Docker's, compose's and
BuildKit's exact error messages; ``render`` prints a config back (``vigil config``).

May import: ``vigil.core``, ``vigil.go``, ``vigil.exceptions``; PyYAML only in ``load``, the
one module that reads files.
"""
