"""Single values of a compose-style file, shared by ``_compose`` and ``_compose_lifecycle``.
Pure core: stdlib only.

Each ``*_field`` check appends ``ConfigProblem(where, message)`` to ``problems`` and still
returns a value (a neutral one when the input is wrong), so a parser goes on and reports every
problem in one pass. Texts are compose's schema wording (``must be a string``) and Go's
``time.ParseDuration``. ``TextInt``/``TextFloat`` carry a YAML number's text (the loader makes
them); ``go_float`` writes a float without text as Go would.
"""

from __future__ import annotations

import math
from decimal import Decimal

from vigil.core.names import MAX_NAME_LENGTH, compose_name_ok, printable, shown_name
from vigil.exceptions import ConfigProblem
from vigil.go.duration import parse_duration
from vigil.go.strings import has_lone_surrogate

Problems = list[ConfigProblem]



class TextInt(int):
    """An integer that remembers how the file spelled it (``0x1F``, ``1_000``)."""

    text: str

    def __new__(cls, value: int, text: str) -> TextInt:
        number = super().__new__(cls, value)
        number.text = text
        return number


class TextFloat(float):
    """A float that remembers how the file spelled it (``1.10``, ``.inf``)."""

    text: str

    def __new__(cls, value: float, text: str) -> TextFloat:
        number = super().__new__(cls, value)
        number.text = text
        return number


def is_extension(key: object) -> bool:
    """An ``x-`` key, accepted and ignored where compose's schema allows them."""
    return isinstance(key, str) and key.startswith("x-")


def one_line(problems: Problems) -> Problems:
    """The problems with what they quote from the input made printable: one line each."""
    return [ConfigProblem(printable(p.path), printable(p.message)) for p in problems]


def name_problem(name: object) -> str | None:
    """Why ``name`` cannot be a service (compose's text, vigil's length), or None."""
    if compose_name_ok(name):
        return None
    message = unknown_key(name)
    if isinstance(name, str) and len(name) > MAX_NAME_LENGTH:
        message += f": a service name has at most {MAX_NAME_LENGTH} characters"
    return message


def unknown_key(key: object) -> str:
    """compose's text for a key its schema does not have, the key shown on one line."""
    return f"Additional property {shown_name(key) if isinstance(key, str) else key} is not allowed"


def text_field(value: object, where: str, problems: Problems) -> str:
    """A string field; NUL cannot reach a process's arguments or environment, and a lone
    surrogate (only JSON can carry one) has no UTF-8 form to reach them in."""
    if not isinstance(value, str):
        problems.append(ConfigProblem(where, "must be a string"))
        return ""
    if "\0" in value:
        problems.append(ConfigProblem(where, "must not contain a NUL character"))
    if has_lone_surrogate(value):  # no UTF-8 for them; JSON input can hold them
        problems.append(ConfigProblem(where, "must be valid Unicode (a lone surrogate is not)"))
    return value


def string_list(value: object, where: str, problems: Problems, wrong: str) -> tuple[str, ...]:
    """A list of strings; ``wrong`` is the message when it is not a list at all."""
    if not isinstance(value, list | tuple):
        problems.append(ConfigProblem(where, wrong))
        return ()
    return tuple(text_field(item, f"{where}.{index}", problems) for index, item in enumerate(value))


def boolean_field(value: object, where: str, problems: Problems) -> bool:
    """``true`` or ``false`` only (the loader reads YAML's ``yes``/``no`` as strings)."""
    if not isinstance(value, bool):
        problems.append(ConfigProblem(where, "must be a boolean"))
        return False
    return value


def go_duration(value: object, where: str, problems: Problems) -> int | None:
    """A Go duration string (``1m30s``) in nanoseconds, or None after reporting why not.

    compose's schema wants a string; YAML's integer ``0`` alone is taken as ``"0"`` (Go
    accepts it).
    """
    if isinstance(value, int) and not isinstance(value, bool) and value == 0:
        return 0
    if not isinstance(value, str):
        problems.append(ConfigProblem(where, "must be a string"))
        return None
    try:
        return parse_duration(value)
    except ValueError as error:
        problems.append(ConfigProblem(where, str(error)))
        return None


def go_float(value: float) -> str:
    """Go's ``fmt.Sprint`` of a float64 (``%g`` with the shortest digits): 1e+06, 0.5, 1.5e-07."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    if value == 0:
        return sign + "0"
    decimal = Decimal(repr(abs(value))).normalize()
    digits = "".join(map(str, decimal.as_tuple().digits))
    exponent = decimal.as_tuple().exponent
    assert isinstance(exponent, int)  # finite
    point = len(digits) + exponent  # digits before the decimal point
    if point - 1 < -4 or point - 1 >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        power = point - 1
        return f"{sign}{mantissa}e{'-' if power < 0 else '+'}{abs(power):02d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"
