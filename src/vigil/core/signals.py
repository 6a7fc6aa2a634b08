"""Linux signal names and numbers as Docker reads them: one parser for ``kill -s``,
``stop_signal`` and the supervisor. A table, not the ``signal`` module, keeps the core pure and
the answers the same on every host.

Sources: moby/sys ``signal/signal.go`` (``ParseSignal``, ``ValidSignalForPlatform``) and
``signal/signal_linux.go`` (``SignalMap``, x86/arm numbering), moby ``daemon/kill.go``.

- ``parse_signal`` is ``ParseSignal``: a number as ``strconv.Atoi`` reads it (any non-zero
  int64, ``+15`` too, so ``65`` and ``-1`` pass), else a name from the table, upper-cased,
  with or without ``SIG``. Anything else, ``0`` included: ``invalid signal: <text>``.
- ``parse_kill_signal`` adds the daemon's check at kill: the number must be one of the
  table's (1-31 and 34-64): ``the linux daemon does not support signal 65``.
- ``stop_signal`` is only parsed at create, as moby does; a stop signal that cannot be sent
  is the supervisor's business (it waits, then SIGKILLs).
"""

from __future__ import annotations

from collections.abc import Mapping

from vigil.go.strconv import NumError, atoi

__all__ = ["SIGKILL", "SIGNALS", "parse_kill_signal", "parse_signal", "valid_signal"]

SIGKILL = 9
_SIGRTMIN = 34  # glibc's, not the kernel's 32: 32 and 33 belong to the C library
_SIGRTMAX = 64

SIGNALS: Mapping[str, int] = {
    "ABRT": 6,
    "ALRM": 14,
    "BUS": 7,
    "CHLD": 17,
    "CLD": 17,
    "CONT": 18,
    "FPE": 8,
    "HUP": 1,
    "ILL": 4,
    "INT": 2,
    "IO": 29,
    "IOT": 6,
    "KILL": SIGKILL,
    "PIPE": 13,
    "POLL": 29,
    "PROF": 27,
    "PWR": 30,
    "QUIT": 3,
    "SEGV": 11,
    "STKFLT": 16,
    "STOP": 19,
    "SYS": 31,
    "TERM": 15,
    "TRAP": 5,
    "TSTP": 20,
    "TTIN": 21,
    "TTOU": 22,
    "URG": 23,
    "USR1": 10,
    "USR2": 12,
    "VTALRM": 26,
    "WINCH": 28,
    "XCPU": 24,
    "XFSZ": 25,
    "RTMIN": _SIGRTMIN,
    **{f"RTMIN+{i}": _SIGRTMIN + i for i in range(1, 16)},
    **{f"RTMAX-{i}": _SIGRTMAX - i for i in range(1, 15)},
    "RTMAX": _SIGRTMAX,
}
"""moby/sys ``SignalMap`` for Linux: names without ``SIG``, to numbers."""

_NUMBERS = frozenset(SIGNALS.values())


def parse_signal(text: str) -> int:
    """moby's ``signal.ParseSignal``; raises ``ValueError("invalid signal: <text>")``.

    Like Go's ``strings.ToUpper``, letters are upper-cased one to one (Python's ``"ß".upper()``
    would give two letters and could turn a junk name into a real one).
    """
    try:
        number = atoi(text)
    except NumError:
        upper = "".join(u if len(u := c.upper()) == 1 else c for c in text)
        found = SIGNALS.get(upper.removeprefix("SIG"))
        if found is None:
            raise ValueError(f"invalid signal: {text}") from None
        return found
    if number == 0:
        raise ValueError(f"invalid signal: {text}")
    return number


def valid_signal(number: int) -> bool:
    """moby/sys ``ValidSignalForPlatform``: a signal of the Linux table."""
    return number in _NUMBERS


def parse_kill_signal(text: str) -> int:
    """The signal of ``docker kill -s TEXT`` as moby's daemon checks it; ValueError with
    moby's text when it is not a signal, or not one Linux has."""
    number = parse_signal(text)
    if not valid_signal(number):
        raise ValueError(f"the linux daemon does not support signal {number}")
    return number
