"""Human and script output of the daemon commands, as the docker CLI prints it.

Pure functions over the API's JSON: every "now" is an argument (Unix ns), so tests need no
clock. Sources: docker/cli ``cli/command/formatter`` (``Ellipsis``, the tabwriter settings,
``containerContext``), ``cli/command/system/events.go`` (``prettyPrintEvent`` and its
``rfc3339NanoFixed`` layout) and Go's ``strconv.Quote`` and ``Time.String``.

``ps --format json`` prints one object per service and line, keys sorted as Go marshals a
map (docker's ``{{json .}}``): ``Command``, ``CreatedAt``, ``Health``, ``ID``, ``Names``,
``RunningFor``, ``State``, ``Status``; the same texts as the table, so ``ID`` and ``Command``
are truncated unless ``--no-trunc``. ``Health`` (vigil's addition) is the health status or
``""``. Scripts may rely on these keys.
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

from vigil.docker import health as _docker_json
from vigil.docker.services import human_duration
from vigil.go.duration import SECOND
from vigil.go.strconv import go_quote
from vigil.go.timefmt import format_rfc3339nano

JsonObject = dict[str, Any]

PS_HEADERS = ("SERVICE ID", "NAME", "COMMAND", "CREATED", "STATUS")
COMMAND_WIDTH = 20  # docker ps truncates the command to 20 display columns
SHORT_ID = 12  # stringid.TruncateID
# docker/cli formatter: tabwriter.NewWriter(out, minwidth=10, tabwidth=1, padding=3, ' ', 0)
_MIN_WIDTH = 10
_PADDING = 3

def _char_width(char: str) -> int:
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def ellipsis(text: str, max_width: int) -> str:
    """docker/cli ``formatter.Ellipsis``: cut to ``max_width`` display columns, ending in …."""
    if max_width <= 0:
        return ""
    if max_width == 1:
        return text[:1]
    if text.isascii():
        return text if len(text) <= max_width else text[: max_width - 1] + "…"
    reached: list[int] = []
    total = 0
    for char in text:
        total += _char_width(char)
        reached.append(total)
    if total <= max_width:
        return text
    for i in range(len(reached) - 1):
        if reached[i] <= max_width - 1 < reached[i + 1]:
            return text[: i + 1] + "…"
    return text


def tabulate(rows: Sequence[Sequence[str]]) -> str:
    """Go's tabwriter as docker configures it: every column but the last is padded to
    max(10, widest cell + 3); the last is written as is."""
    if not rows:
        return ""
    columns = max(len(row) for row in rows)
    widths = [
        max(_MIN_WIDTH, max((len(row[i]) for row in rows if i < len(row) - 1), default=0) + 3)
        for i in range(columns - 1)
    ]
    lines = []
    for row in rows:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        lines.append("".join(cells) + row[-1] + "\n")
    return "".join(lines)


def go_time_string(unix_s: int) -> str:
    """Go's ``time.Unix(s, 0).String()`` in local time: ``2026-11-27 19:22:04 +0000 UTC``."""
    tm = time.localtime(unix_s)
    return time.strftime("%Y-%m-%d %H:%M:%S %z ", tm) + (tm.tm_zone or time.strftime("%z", tm))


def _name(item: JsonObject) -> str:
    """docker ps NAMES: names without their leading slash, comma-joined."""
    return ",".join(str(name).lstrip("/") for name in item.get("Names") or [])


def short_id(item: JsonObject, no_trunc: bool = False) -> str:
    service_id = str(item.get("Id", ""))
    return service_id if no_trunc else service_id[:SHORT_ID]


def _command(item: JsonObject, no_trunc: bool) -> str:
    command = str(item.get("Command", ""))
    return go_quote(command if no_trunc else ellipsis(command, COMMAND_WIDTH))


def _running_for(item: JsonObject, now_ns: int) -> str:
    return human_duration(now_ns - int(item.get("Created", 0)) * SECOND) + " ago"


def ps_table(items: Iterable[JsonObject], now_ns: int, *, no_trunc: bool = False) -> str:
    """The ``vigil ps`` table, header included."""
    rows: list[Sequence[str]] = [PS_HEADERS]
    for item in items:
        rows.append(
            (
                short_id(item, no_trunc),
                _name(item),
                _command(item, no_trunc),
                _running_for(item, now_ns),
                str(item.get("Status", "")),
            )
        )
    return tabulate(rows)


def ps_json(item: JsonObject, now_ns: int, *, no_trunc: bool = False) -> str:
    """One ``vigil ps --format json`` line (without the newline); keys as documented above."""
    health = item.get("Health") or {}
    status = health.get("Status", "") if isinstance(health, dict) else ""
    return _docker_json.dumps(
        {
            "Command": _command(item, no_trunc),
            "CreatedAt": go_time_string(int(item.get("Created", 0))),
            "Health": "" if status == "none" else status,
            "ID": short_id(item, no_trunc),
            "Names": _name(item),
            "RunningFor": _running_for(item, now_ns),
            "State": str(item.get("State", "")),
            "Status": str(item.get("Status", "")),
        }
    )


def event_line(event: JsonObject) -> str:
    """docker's ``prettyPrintEvent``: ``<time> <type> <action> <id> (<k>=<v>, ...)``, the
    time in local time with all nine fraction digits, attributes sorted by key."""
    parts = []
    if event.get("timeNano"):
        parts.append(format_rfc3339nano(int(event["timeNano"]), fixed=True) + " ")
    elif event.get("time"):
        parts.append(format_rfc3339nano(int(event["time"]) * SECOND, fixed=True) + " ")
    actor = event.get("Actor") or {}
    parts.append(f"{event.get('Type', '')} {event.get('Action', '')} {actor.get('ID', '')}")
    attributes = actor.get("Attributes") or {}
    if attributes:
        pairs = ", ".join(f"{key}={attributes[key]}" for key in sorted(attributes))
        parts.append(f" ({pairs})")
    return "".join(parts)


def inspect_text(objects: Sequence[JsonObject]) -> str:
    """``docker inspect``: a JSON array indented by 4 spaces, HTML characters unescaped."""
    return _docker_json.dumps(list(objects), indent=4)
