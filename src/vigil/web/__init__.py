"""The live status page (``vigil up --web HOST:PORT`` or ``web:`` in ``vigil.yaml``): every
service with its health, uptime and recent results, one service's history as a chart and its
events, updated live over server-sent events. Read-only but for actions that need a token.

Beside ``vigil.api`` on the edge layer: it reads the manager, the store and the event stream,
reuses the API's guards, and ships its assets (``static/``) in the package: no build step.
"""

from vigil.web.app import create_web_app as create_web_app

__all__ = ["create_web_app"]
