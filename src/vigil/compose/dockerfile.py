"""One Dockerfile ``HEALTHCHECK`` instruction, parsed with BuildKit's rules and messages.

Pure core: standard library only, no I/O. Follows moby/buildkit ``frontend/dockerfile``:
``parser.Parse`` (continuation lines, comments), ``splitCommand``/``extractBuilderFlags``
(flags, also ``--flag value``), ``parseHealthConfig``/``parseMaybeJSON`` (shell or JSON form),
``BFlags.Parse`` (flag errors, with the ``(did you mean …?)`` hint) and
``instructions.parseHealthcheck``/``parseOptInterval`` (the instruction itself):

- ``NONE`` gives ``["NONE"]``; its flags are never parsed, as in BuildKit.
- Shell form gives ``["CMD-SHELL", "<rest of the line as written>"]``; JSON form ``["CMD", ...]``.
  Text after ``[`` that is not valid JSON falls back to the shell form, as in BuildKit.
- Flags are parsed before the type is checked, so a bad flag wins over a bad type.

Where BuildKit has no message because it is not about one instruction, vigil words its own:
an empty text gives BuildKit's ``file with no instructions``; another instruction than
``HEALTHCHECK`` or more than one instruction are refused in vigil's words. The ``# escape=``
directive is not supported (the text is one instruction, not a Dockerfile). Go's random map
order picks among equally close flag suggestions; vigil takes the first in declaration order.
"""

from __future__ import annotations

import json
import re

from vigil.core.config import TEST_CMD, TEST_NONE, TEST_SHELL, HealthcheckConfig
from vigil.core.names import printable
from vigil.exceptions import ConfigError, ConfigProblem
from vigil.go.duration import MILLISECOND, format_duration, parse_duration
from vigil.go.json import value_depth
from vigil.go.strconv import go_quote
from vigil.go.strings import SPACES, replace_lone_surrogates, trim_space

# unicode.IsSpace over single bytes, as BuildKit's byte loops call it (rune(line[pos])).
_BYTE_SPACES = frozenset(b"\t\n\v\f\r \x85\xa0")
_TOKEN_WHITESPACE = re.compile(r"[\t\v\f\r ]+")
_CONTINUATION = re.compile(r"\\[ \t]*$")
_FLAGS = ("interval", "timeout", "start-period", "start-interval", "retries")
_DURATION_FLAGS = ("interval", "timeout", "start-period", "start-interval")
_NOT_STRING_ARRAY = "when using JSON array syntax, arrays must be comprised of strings only"


class _BuildKitError(Exception):
    """A BuildKit error text; turned into a ConfigError at the module's edge."""


def parse_healthcheck_instruction(line: str) -> HealthcheckConfig:
    """Parse ``HEALTHCHECK [OPTIONS] CMD command`` or ``HEALTHCHECK NONE`` like BuildKit.

    Raises ``ConfigError`` with one problem whose path is empty and whose message is
    BuildKit's text (the caller moves it to the field it came from).
    """
    try:
        return _parse(line)
    except _BuildKitError as error:
        raise ConfigError(ConfigProblem("", printable(str(error)))) from None  # one line


def _parse(text: str) -> HealthcheckConfig:
    # A Go string holds no surrogates; from here on U+DC80-U+DCFF stand for invalid bytes.
    instructions = _instructions(replace_lone_surrogates(text))
    if not instructions:
        raise _BuildKitError("file with no instructions")
    if len(instructions) > 1:
        raise _BuildKitError(
            f"expected one HEALTHCHECK instruction, found {len(instructions)} instructions"
        )
    command, flags, rest = _split_command(instructions[0])
    if command.lower() != "healthcheck":
        raise _BuildKitError(f"expected a HEALTHCHECK instruction, not {command.upper()}")
    args, is_json = _health_args(rest)
    return _instruction(args, is_json, flags)


def _go_trim_left(text: str) -> str:
    return text.lstrip(SPACES)


def _trim_comment(text: str) -> str:
    return "" if text.startswith("#") else text


def _trim_continuation(text: str) -> tuple[str, bool]:
    """The line without a trailing backslash, and whether the instruction ends here."""
    if _CONTINUATION.search(text):
        return _CONTINUATION.sub("", text), False
    return text, True


def _instructions(text: str) -> list[str]:
    """Logical instruction lines, joined and stripped as ``parser.Parse`` does."""
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    if text.endswith("\n"):
        lines.pop()  # bufio.ScanLines yields no empty last line
    if lines:
        lines[0] = lines[0].removeprefix("\ufeff")
    found: list[str] = []
    index = 0
    while index < len(lines):
        current, ended = _trim_continuation(_trim_comment(_go_trim_left(lines[index])))
        index += 1
        if ended and current == "":
            continue
        while not ended and index < len(lines):
            raw = lines[index]
            index += 1
            if _go_trim_left(raw).startswith("#") or _go_trim_left(raw) == "":
                continue  # comment and empty continuation lines are skipped
            more, ended = _trim_continuation(raw)
            current += more
        found.append(current)
    return found


def _split_command(line: str) -> tuple[str, list[str], str]:
    """``splitCommand``: the instruction word, its ``--flags`` and the rest of the line."""
    parts = _TOKEN_WHITESPACE.split(trim_space(line), maxsplit=1)
    if len(parts) < 2:
        return parts[0], [], ""
    rest, flags = _extract_flags(parts[1].encode("utf-8", "surrogateescape"))
    return parts[0], flags, trim_space(rest.decode("utf-8", "surrogateescape"))


def _extract_flags(line: bytes) -> tuple[bytes, list[str]]:
    """``extractBuilderFlags``, byte by byte as in Go (a flag word keeps Go's rune(byte))."""
    words: list[str] = []
    word: list[str] = []
    in_word = in_quote = False
    quote = 0
    blank_ok = parsing_flag_arg = False
    need_flag_arg = True
    pos = 0
    while pos <= len(line):
        at_end = pos == len(line)
        ch = 0 if at_end else line[pos]
        if not in_word and not in_quote:
            if at_end:
                break
            if ch in _BYTE_SPACES:
                pos += 1
                continue
            starts_flag = ch == 0x2D and pos + 1 < len(line) and line[pos + 1] == 0x2D
            if not parsing_flag_arg and not starts_flag:
                return line[pos:], words
            in_word = True
        if at_end:
            text = "".join(word)
            if text != "--" and (blank_ok or word):
                words.append(text)
            break
        if in_word:
            if ch in _BYTE_SPACES:
                in_word = False
                text = "".join(word)
                if parsing_flag_arg:
                    words[-1] += "=" + text
                    parsing_flag_arg = False
                    need_flag_arg = True
                else:
                    if text == "--":
                        return line[pos:], words
                    if blank_ok or word:
                        parsing_flag_arg = need_flag_arg
                        words.append(text)
                word.clear()
                blank_ok = False
                pos += 1
                continue
            if ch == 0x3D and need_flag_arg:
                need_flag_arg = False
            if ch in (0x22, 0x27):
                quote, blank_ok, in_word, in_quote = ch, True, False, True
                pos += 1
                continue
            if ch == 0x5C:
                if pos + 1 == len(line):
                    pos += 1
                    continue
                pos += 1
                ch = line[pos]
            word.append(chr(ch))
            pos += 1
            continue
        # inside quotes
        if ch == quote:
            in_quote, in_word = False, True
            pos += 1
            continue
        if ch == 0x5C:
            if pos + 1 == len(line):
                in_quote, in_word = False, True
                pos += 1
                continue
            pos += 1
            ch = line[pos]
        word.append(chr(ch))
        pos += 1
    return b"", words


def _health_args(rest: str) -> tuple[list[str], bool]:
    """``parseHealthConfig`` + ``nodeArgs``: [type, command...] and whether JSON form was used."""
    raw = rest.encode("utf-8", "surrogateescape")
    sep = 0
    while sep < len(raw) and raw[sep] not in _BYTE_SPACES:
        sep += 1
    after = sep
    while after < len(raw) and raw[after] in _BYTE_SPACES:
        after += 1
    if sep == 0:
        return [], False
    kind = raw[:sep].decode("utf-8", "surrogateescape")
    command = raw[after:].decode("utf-8", "surrogateescape")
    if command == "":
        return [kind], False
    array = _json_array(command)
    if array is None:
        return [kind, command], False
    return [kind, *array], True


def _reject_constant(name: str) -> float:
    raise ValueError(name)  # Go's encoding/json has no NaN or Infinity


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(text)  # Go: cannot unmarshal number into float64
    return value


def _json_array(text: str) -> list[str] | None:
    """``parseJSON``: the strings of a JSON array, or None when not valid JSON (shell form)."""
    text = _go_trim_left(text)
    if not text.startswith("["):
        return None
    depth = value_depth(text)  # without recursion: Python's json stops near depth 1,000
    if depth is None:
        return None
    if depth > 1:  # a valid array holding an array or an object
        raise _BuildKitError(_NOT_STRING_ARRAY)
    try:
        items = json.loads(
            text, parse_constant=_reject_constant, parse_float=_finite, parse_int=_finite
        )
    except ValueError:
        return None
    if not all(isinstance(item, str) for item in items):
        raise _BuildKitError(_NOT_STRING_ARRAY)
    # Go decodes lone surrogates and bad bytes as U+FFFD.
    return [replace_lone_surrogates(item) for item in items]


def _go_upper(text: str) -> str:
    """strings.ToUpper maps rune by rune; Python may expand one character to two (ß → SS)."""
    return "".join(c.upper() if len(c.upper()) == 1 else c for c in text)


def _instruction(args: list[str], is_json: bool, flags: list[str]) -> HealthcheckConfig:
    """``instructions.parseHealthcheck``."""
    if not args:
        raise _BuildKitError("HEALTHCHECK requires at least one argument")
    kind, command = _go_upper(args[0]), args[1:]
    if kind == TEST_NONE:
        if command:
            raise _BuildKitError("HEALTHCHECK NONE takes no arguments")
        return HealthcheckConfig(test=(TEST_NONE,))
    values = _parse_flags(flags)
    if kind != TEST_CMD:
        raise _BuildKitError(f"Unknown type {go_quote(kind)} in HEALTHCHECK (try CMD)")
    if not command:
        raise _BuildKitError("Missing command after HEALTHCHECK CMD")
    test = (TEST_CMD, *command) if is_json else (TEST_SHELL, " ".join(command))
    durations = [_opt_interval(name, values.get(name, "")) for name in _DURATION_FLAGS]
    return HealthcheckConfig(
        test=test,
        interval=durations[0],
        timeout=durations[1],
        start_period=durations[2],
        start_interval=durations[3],
        retries=_retries(values.get("retries", "")),
    )


def _parse_flags(flags: list[str]) -> dict[str, str]:
    """``BFlags.Parse`` for HEALTHCHECK's five string flags."""
    values: dict[str, str] = {}
    for flag in flags:
        # extractBuilderFlags only yields words starting with "--" and never "--" itself.
        name, has_value, value = flag.partition("=")
        arg = name[2:]
        if arg not in _FLAGS:
            raise _BuildKitError(_suggest(f"unknown flag: {name}", arg))
        if arg in values:
            raise _BuildKitError(f"duplicate flag specified: {name}")
        if not has_value:
            raise _BuildKitError(f"missing a value on flag: {name}")
        values[arg] = value
    return values


def _levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def _suggest(message: str, value: str) -> str:
    """``suggest.WrapError``: add ``(did you mean x?)`` when a flag is within distance 2."""
    match, best = "", 3
    for option in _FLAGS:
        distance = _levenshtein(value, option)
        if distance < best:
            match, best = option, distance
    return f"{message} (did you mean {match}?)" if match else message


def _opt_interval(name: str, value: str) -> int:
    """``parseOptInterval``: empty or zero is 0 (inherit); otherwise at least 1ms."""
    if value == "":
        return 0
    try:
        duration = parse_duration(value)
    except ValueError as error:
        raise _BuildKitError(str(error)) from None
    if duration == 0:
        return 0
    if duration < MILLISECOND:
        minimum = format_duration(MILLISECOND)
        raise _BuildKitError(f"Interval {go_quote(name)} cannot be less than {minimum}")
    return duration


def _retries(value: str) -> int:
    """``strconv.ParseInt(v, 10, 32)``, then ``--retries cannot be negative (n)``."""
    if value == "":
        return 0
    prefix = f"strconv.ParseInt: parsing {go_quote(value)}: "
    digits = value[1:] if value[0] in "+-" else value
    if not digits or not all("0" <= c <= "9" for c in digits):
        raise _BuildKitError(prefix + "invalid syntax")
    significant = digits.lstrip("0")
    number = int(significant) if 0 < len(significant) <= 11 else (0 if not significant else 1 << 40)
    number = -number if value[0] == "-" else number
    if not -(1 << 31) <= number < (1 << 31):
        raise _BuildKitError(prefix + "value out of range")
    if number < 0:
        raise _BuildKitError(f"--retries cannot be negative ({number})")
    return number


