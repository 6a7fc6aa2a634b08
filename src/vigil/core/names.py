"""Names and user specs as Docker, compose and runc accept them. Pure core: stdlib only.

One place for each rule, called by every edge that takes one (``vigil run``, the API's
create, ``vigil.yaml``, the launcher):

- A service created by name (``vigil run --name``, ``POST /services/create?name=``) follows
  moby's container name rule ``^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$`` (so at least two
  characters), with moby's message.
- A ``vigil.yaml`` service name follows compose's ``^[a-zA-Z0-9._-]+$``.
- Both are at most :data:`MAX_NAME_LENGTH` characters, a limit Docker does not have: the
  name is part of the service's log file name (``<name>-<12 hex>.log`` and rotation suffixes),
  which must fit in a file name's 255 bytes, and 128 is the limit others use.
- A user spec ``user[:group]`` is split as runc's ``GetExecUser`` does; a part that Go's
  ``strconv.Atoi`` reads as a number is an id and must be in 0..2147483647 (runc's text). Other
  parts are names, looked up when the process starts.
"""

from __future__ import annotations

import re

from vigil.go.strconv import RANGE, NumError, atoi, go_quote

MAX_NAME_LENGTH = 128
MAX_ID = 2**31 - 1  # runc: uids and gids are non-negative int32s
ID_RANGE = f"uids and gids must be in range 0-{MAX_ID}"  # runc's ErrRange

_CONTAINER_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")  # moby RestrictedNamePattern
_COMPOSE_NAME = re.compile(r"[a-zA-Z0-9._-]+")  # compose-spec: ^[a-zA-Z0-9._-]+$
_SHOWN = 40  # characters of an over-long name an error message shows


def printable(text: str) -> str:
    """``text`` with every character that is not printable (a line break, a control
    character, a lone surrogate) escaped as Go's ``%q`` would, so a message stays one line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else go_quote(c)[1:-1] for c in text)


def shown_name(name: str) -> str:
    """A name for a one-line error message: as is when short and printable; else quoted as
    Go would (``"a\\nb"``), and cut to its start and its length when long."""
    start = name[:_SHOWN]
    text = start if start.isprintable() else go_quote(start)
    return text if len(name) <= _SHOWN else f"{text}... ({len(name)} characters)"


def service_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a service created by name (moby's text), or None."""
    if not _CONTAINER_NAME.fullmatch(name.removeprefix("/")):
        return (
            f"Invalid service name ({shown_name(name)}), "
            "only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )
    return _length_problem(name.removeprefix("/"))


def compose_name_ok(name: object) -> bool:
    """True when ``name`` can be a ``vigil.yaml`` service (compose's rule, our length)."""
    return (
        isinstance(name, str)
        and len(name) <= MAX_NAME_LENGTH
        and _COMPOSE_NAME.fullmatch(name) is not None
    )


def _length_problem(name: str) -> str | None:
    if len(name) > MAX_NAME_LENGTH:
        return (
            f"Invalid service name ({shown_name(name)}), "
            f"at most {MAX_NAME_LENGTH} characters are allowed"
        )
    return None


def user_ids(spec: str) -> tuple[int | None, int | None]:
    """The numeric uid and gid of ``user[:group]`` (None: a name, or absent), runc's way:
    ``strconv.Atoi``, so ``+5`` and ``-1`` are numbers and ``٣`` is a name.
    Raises ValueError with runc's text when an id is out of range."""
    user, _, rest = spec.partition(":")
    group = rest.partition(":")[0]  # runc's parseLine ignores a third field
    return _id(user), _id(group) if group else None


def user_problem(spec: str) -> str | None:
    """runc's complaint about a user spec that no passwd file can fix, or None."""
    try:
        user_ids(spec)
    except ValueError as error:
        return str(error)
    return None


def _id(text: str) -> int | None:
    try:
        number = atoi(text)
    except NumError as error:
        if error.err == RANGE:  # a number, too big even for Go's int
            raise ValueError(ID_RANGE) from None
        return None
    if not 0 <= number <= MAX_ID:
        raise ValueError(ID_RANGE)
    return number

# A Docker engine's container web is the service "docker/web" (``vigil up --docker``): the
# one form of name with a slash, which no name vigil accepts from users can take.
CONTAINER_PREFIX = "docker/"
