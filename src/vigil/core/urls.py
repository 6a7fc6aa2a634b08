"""Secrets in URLs the user gives (store and fleet DSNs). Pure core: stdlib only."""

from __future__ import annotations

import re

_PARAM_PASSWORD = re.compile(r"([?&]password=)[^&]*")


def redact_url(url: str) -> str:
    """``url`` for messages and ``vigil config``: a password in its user info or among its
    parameters (libpq's ``?password=``) becomes ``***``; the rest is kept, so the URL still
    says where."""
    scheme, sep, rest = url.partition("://")
    authority = rest.partition("/")[0].partition("?")[0]
    if sep and "@" in authority:
        credentials, _, host = authority.rpartition("@")
        user, colon, _ = credentials.partition(":")
        if colon:
            url = f"{scheme}://{user}:***@{host}{rest[len(authority):]}"
    return _PARAM_PASSWORD.sub(r"\1***", url)


__all__ = ["redact_url"]
