"""The ``{ref:service}`` path parameter: a service's name or ID, which is one path segment,
or two for a Docker engine's containers (``docker/web``, from ``vigil up --docker``) and a
fleet's shared checks this agent holds (``check/api``).

Registered with Starlette once, on import, before any route uses it.
"""

from __future__ import annotations

import re

from starlette.convertors import StringConvertor, register_url_convertor

from vigil.core.fleet import CHECK_PREFIX
from vigil.core.names import CONTAINER_PREFIX


class ServiceRefConvertor(StringConvertor):
    regex = f"(?:{re.escape(CONTAINER_PREFIX)}|{re.escape(CHECK_PREFIX)})?[^/]+"


register_url_convertor("service", ServiceRefConvertor())
