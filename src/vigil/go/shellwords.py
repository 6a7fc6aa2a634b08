"""compose-go's command splitting: ``shellwords.Parse`` (mattn/go-shellwords), to the rule.

Pure core: standard library only. compose-go splits a string ``command`` with
``shellwords.Parse`` and neither environment nor backtick expansion. That is not POSIX shlex:
``\\t`` and ``\\n`` become a tab and a newline, a backslash escapes any character outside
single quotes (inside double quotes too), ``$(...)`` and backticks are kept literally, and a
bare ``(`` or ``)`` is an error. One deliberate difference: shellwords stops at an unquoted
``; & | < >`` and silently drops the rest of the line; vigil refuses such a command instead.
"""

from __future__ import annotations

_INVALID_COMMAND = "invalid command line string"


def split_command(line: str) -> list[str]:
    """Split a command line into words; ``ValueError`` with the reason when it cannot be."""
    args: list[str] = []
    word, got = "", False
    escaped = single = double = backtick = dollar = False
    for char in line:
        if escaped:
            escaped, got = False, True
            if backtick or dollar:
                word += "\\" + char
            else:
                word += {"t": "\t", "n": "\n"}.get(char, char)
            continue
        if char == "\\":
            if single:
                word += char
            else:
                escaped = True
            continue
        if char in " \t\r\n":
            if single or double or backtick or dollar:
                word += char
            elif got:
                args.append(word)
                word, got = "", False
            continue
        quoted = single or double or backtick or dollar
        if char == "`" and not (single or double or dollar):
            backtick = not backtick
        elif char == ")" and not (single or double or backtick):
            if not dollar:
                raise ValueError(_INVALID_COMMAND)
            dollar = False
        elif char == "(" and not (single or double or backtick):
            if dollar or not word.endswith("$") or word.endswith("\\$"):
                raise ValueError(_INVALID_COMMAND)
            dollar = True
        elif char == '"' and not (single or dollar or backtick):
            got = got or double
            double = not double
            continue
        elif char == "'" and not (double or dollar or backtick):
            got = got or single
            single = not single
            continue
        elif char in ";&|<>" and not quoted:
            raise ValueError(
                f'unquoted "{char}" is not supported (compose would drop the rest of the line);'
                ' use a list, e.g. ["sh", "-c", "..."]'
            )
        got = True
        word += char
    if got:
        args.append(word)
    if escaped or single or double or backtick or dollar:
        raise ValueError(_INVALID_COMMAND)
    return args
