"""The token that actions from the page (restart, pause, ...) must carry.

With an API token (``--token-file`` or ``VIGIL_TOKEN``, which ``-H tcp://`` requires) the
page's actions take that same token. Without one (the API on its unix socket needs none: the
file system guards it), the daemon makes a random token once and keeps it in
``<state dir>/web-token``, mode 0600, for the user who can read the state directory; it is
never logged. Reading the page needs no token.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

from vigil.api.auth import check_token
from vigil.exceptions import ConfigError

TOKEN_FILE = "web-token"
_MAX_BYTES = 4096


def _read(path: Path) -> str | None:
    """The token in ``path`` if it is a regular file (not a link) of ours, else None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
            return None
        text = file.read(_MAX_BYTES).decode("ascii", "replace")
    try:
        return check_token(text, str(path))
    except ConfigError:
        return None


def _write(path: Path) -> str:
    """A new random token in ``path`` (mode 0600 from the start, replaced atomically)."""
    token = secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as file:
            file.write(token + "\n")
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return token


def action_token(state_dir: Path, api_token: str | None) -> tuple[str, str]:
    """(the token, where its user finds it): the API token when there is one, else the one
    kept in ``state_dir`` (made on first use, or again when the file is not usable)."""
    if api_token is not None:
        return api_token, "the API token"
    path = state_dir / TOKEN_FILE
    token = _read(path)
    if token is not None:
        return token, f"the token in {path}"
    try:
        return _write(path), f"the token in {path}"
    except OSError as exc:  # no page actions then, rather than no daemon
        return secrets.token_urlsafe(32), f"a token that could not be stored ({exc}): none"
