"""Docker's wire shapes: inspect and list JSON, ``health_status`` event messages, filters.

The one place that knows Docker's field names and casing; everything inside vigil uses
Python names and ``vigil.core`` values, and these modules project them onto Docker's JSON.
Later: the Engine API client for real containers.

May import: ``vigil.core``, ``vigil.go``, ``vigil.exceptions``. No I/O.
"""
