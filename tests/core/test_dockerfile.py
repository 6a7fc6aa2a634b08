"""``HEALTHCHECK`` instructions parsed with BuildKit's rules and error texts."""

from __future__ import annotations

import pytest

from vigil.compose.dockerfile import go_quote, parse_healthcheck_instruction
from vigil.core.config import HealthcheckConfig
from vigil.exceptions import ConfigError, ConfigProblem
from vigil.go.duration import MILLISECOND, SECOND

S = SECOND


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("HEALTHCHECK NONE", HealthcheckConfig(test=("NONE",))),
        ("healthcheck none", HealthcheckConfig(test=("NONE",))),
        # BuildKit never parses the flags of NONE
        ("HEALTHCHECK --interval=5s NONE", HealthcheckConfig(test=("NONE",))),
        ("HEALTHCHECK --bogus=1 NONE", HealthcheckConfig(test=("NONE",))),
        ("HEALTHCHECK CMD hello world", HealthcheckConfig(test=("CMD-SHELL", "hello world"))),
        ("HEALTHCHECK   CMD   a b", HealthcheckConfig(test=("CMD-SHELL", "a b"))),
        ("  HEALTHCHECK CMD a   b  ", HealthcheckConfig(test=("CMD-SHELL", "a   b"))),
        (
            "HEALTHCHECK CMD curl -f http://localhost/ || exit 1",
            HealthcheckConfig(test=("CMD-SHELL", "curl -f http://localhost/ || exit 1")),
        ),
        ('HEALTHCHECK CMD ["foo", "bar baz"]', HealthcheckConfig(test=("CMD", "foo", "bar baz"))),
        ('HEALTHCHECK cmd ["foo"]', HealthcheckConfig(test=("CMD", "foo"))),
        ('HEALTHCHECK CMD [""]', HealthcheckConfig(test=("CMD", ""))),
        ('HEALTHCHECK CMD ["\\ud800"]', HealthcheckConfig(test=("CMD", "\ufffd"))),
        # not valid JSON (for Go's decoder): the shell form
        ("HEALTHCHECK CMD [foo", HealthcheckConfig(test=("CMD-SHELL", "[foo"))),
        ("HEALTHCHECK CMD [NaN]", HealthcheckConfig(test=("CMD-SHELL", "[NaN]"))),
        ("HEALTHCHECK CMD [1e400]", HealthcheckConfig(test=("CMD-SHELL", "[1e400]"))),
        ('HEALTHCHECK CMD ["a"] b', HealthcheckConfig(test=("CMD-SHELL", '["a"] b'))),
        (
            "HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --start-interval=1s"
            " --retries=3 CMD x",
            HealthcheckConfig(
                test=("CMD-SHELL", "x"),
                interval=5 * S,
                timeout=3 * S,
                start_period=10 * S,
                start_interval=1 * S,
                retries=3,
            ),
        ),
        # BuildKit's parser testfile "health"
        (
            'HEALTHCHECK --start-period=0s --interval=5s --timeout=0s --retries=0 CMD ["foo"]',
            HealthcheckConfig(test=("CMD", "foo"), interval=5 * S),
        ),
        (
            "HEALTHCHECK --interval 5s CMD x",
            HealthcheckConfig(test=("CMD-SHELL", "x"), interval=5 * S),
        ),
        (
            'HEALTHCHECK --interval="5s" CMD x',
            HealthcheckConfig(test=("CMD-SHELL", "x"), interval=5 * S),
        ),
        ("HEALTHCHECK --interval= CMD x", HealthcheckConfig(test=("CMD-SHELL", "x"))),
        ("HEALTHCHECK --interval=0 CMD x", HealthcheckConfig(test=("CMD-SHELL", "x"))),
        (
            "HEALTHCHECK --interval=1ms CMD x",
            HealthcheckConfig(test=("CMD-SHELL", "x"), interval=MILLISECOND),
        ),
        ("HEALTHCHECK --retries=+3 CMD x", HealthcheckConfig(test=("CMD-SHELL", "x"), retries=3)),
        (
            "HEALTHCHECK --retries=2147483647 CMD x",
            HealthcheckConfig(test=("CMD-SHELL", "x"), retries=2**31 - 1),
        ),
        ("HEALTHCHECK --retries=-0 CMD x", HealthcheckConfig(test=("CMD-SHELL", "x"))),
        ("HEALTHCHECK -- CMD x", HealthcheckConfig(test=("CMD-SHELL", "x"))),
        (
            "HEALTHCHECK --interval=5s --timeout=3s --retries=3 \\\n  CMD /app/check.sh --quiet",
            HealthcheckConfig(
                test=("CMD-SHELL", "/app/check.sh --quiet"),
                interval=5 * S,
                timeout=3 * S,
                retries=3,
            ),
        ),
        ("\n# a comment\n\nHEALTHCHECK CMD x\n", HealthcheckConfig(test=("CMD-SHELL", "x"))),
        ("HEALTHCHECK \\\n# skipped\n\n CMD x", HealthcheckConfig(test=("CMD-SHELL", "x"))),
        ("\ufeffHEALTHCHECK CMD x\r\n", HealthcheckConfig(test=("CMD-SHELL", "x"))),
        # backslashes escape the next byte inside flag words, quoted or not
        (
            "HEALTHCHECK --interval=\\5s CMD x",
            HealthcheckConfig(test=("CMD-SHELL", "x"), interval=5 * S),
        ),
        (
            'HEALTHCHECK --interval="5\\s" CMD x',
            HealthcheckConfig(test=("CMD-SHELL", "x"), interval=5 * S),
        ),
    ],
)
def test_instruction_parses_like_buildkit(line: str, expected: HealthcheckConfig) -> None:
    """Both forms, flags, continuation lines and comments give BuildKit's HealthConfig."""
    assert parse_healthcheck_instruction(line) == expected


def _error(line: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_healthcheck_instruction(line)
    [problem] = caught.value.problems
    assert problem.path == ""
    return problem.message


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("", "file with no instructions"),
        ("# just a comment\n", "file with no instructions"),
        ("HEALTHCHECK", "HEALTHCHECK requires at least one argument"),
        ("HEALTHCHECK   ", "HEALTHCHECK requires at least one argument"),
        ("HEALTHCHECK --interval=5s", "HEALTHCHECK requires at least one argument"),
        ("HEALTHCHECK NONE x", "HEALTHCHECK NONE takes no arguments"),
        # a backslash ending the line is dropped (\v is no continuation, but is trimmed)
        ("HEALTHCHECK --interval=5s\\\v", "HEALTHCHECK requires at least one argument"),
        ('HEALTHCHECK --interval="5s\\\v', "HEALTHCHECK requires at least one argument"),
        # Go tests bytes for spaces: 0x85 inside "ą" (c4 85) ends the flag word
        ("HEALTHCHECK --interval=ą", "HEALTHCHECK requires at least one argument"),
        ("HEALTHCHECK CMD", "Missing command after HEALTHCHECK CMD"),
        ("HEALTHCHECK CMD []", "Missing command after HEALTHCHECK CMD"),
        ("HEALTHCHECK CONNECT TCP 7000", 'Unknown type "CONNECT" in HEALTHCHECK (try CMD)'),
        ("HEALTHCHECK connect x", 'Unknown type "CONNECT" in HEALTHCHECK (try CMD)'),
        ('HEALTHCHECK "x" y', 'Unknown type "\\"X\\"" in HEALTHCHECK (try CMD)'),
        ("HEALTHCHECK straße y", 'Unknown type "STRAßE" in HEALTHCHECK (try CMD)'),
        (
            'HEALTHCHECK CMD ["a", 1]',
            "when using JSON array syntax, arrays must be comprised of strings only",
        ),
        (
            "HEALTHCHECK CMD [null]",
            "when using JSON array syntax, arrays must be comprised of strings only",
        ),
        ("HEALTHCHECK --foo=1 CMD x", "unknown flag: --foo"),
        ("HEALTHCHECK --intervl=5s CMD x", "unknown flag: --intervl (did you mean interval?)"),
        ("HEALTHCHECK --retrie=3 CMD x", "unknown flag: --retrie (did you mean retries?)"),
        ("HEALTHCHECK --retry=3 CMD x", "unknown flag: --retry"),
        # Go reads flag bytes as runes (Latin-1), as rune(line[pos]) does
        ("HEALTHCHECK --intérval=5s CMD x", "unknown flag: --intÃ©rval (did you mean interval?)"),
        (
            "HEALTHCHECK --start-perod=1s CMD x",
            "unknown flag: --start-perod (did you mean start-period?)",
        ),
        ("HEALTHCHECK --interval=5s --interval=6s CMD x", "duplicate flag specified: --interval"),
        # flags are parsed before the type is checked
        ("HEALTHCHECK --foo=1 CONNECT x", "unknown flag: --foo"),
        # "--flag value" takes the next word, even CMD
        ("HEALTHCHECK --interval CMD x", 'Unknown type "X" in HEALTHCHECK (try CMD)'),
        # after a "--flag=value", BuildKit stops joining "--flag value" (its needFlagArg)
        ("HEALTHCHECK --interval=5s --timeout 3s CMD x", "missing a value on flag: --timeout"),
        ("HEALTHCHECK --interval=5 CMD x", 'time: missing unit in duration "5"'),
        ("HEALTHCHECK --interval=5x CMD x", 'time: unknown unit "x" in duration "5x"'),
        ("HEALTHCHECK --interval=abc CMD x", 'time: invalid duration "abc"'),
        ("HEALTHCHECK --retries=-1 CMD x", "--retries cannot be negative (-1)"),
        ("HEALTHCHECK --retries=-2147483648 CMD x", "--retries cannot be negative (-2147483648)"),
        ("HEALTHCHECK --retries=abc CMD x", 'strconv.ParseInt: parsing "abc": invalid syntax'),
        ("HEALTHCHECK --retries=3.5 CMD x", 'strconv.ParseInt: parsing "3.5": invalid syntax'),
        ("HEALTHCHECK --retries=1_0 CMD x", 'strconv.ParseInt: parsing "1_0": invalid syntax'),
        ("HEALTHCHECK --retries=+ CMD x", 'strconv.ParseInt: parsing "+": invalid syntax'),
        (
            "HEALTHCHECK --retries=2147483648 CMD x",
            'strconv.ParseInt: parsing "2147483648": value out of range',
        ),
        (
            "HEALTHCHECK --retries=-2147483649 CMD x",
            'strconv.ParseInt: parsing "-2147483649": value out of range',
        ),
        (
            "HEALTHCHECK --retries=99999999999999999999999 CMD x",
            'strconv.ParseInt: parsing "99999999999999999999999": value out of range',
        ),
        ("RUN echo hi", "expected a HEALTHCHECK instruction, not RUN"),
        (
            "HEALTHCHECK CMD a\nHEALTHCHECK CMD b",
            "expected one HEALTHCHECK instruction, found 2 instructions",
        ),
    ],
)
def test_errors_have_buildkits_texts(line: str, message: str) -> None:
    """Each rejected instruction gives BuildKit's message (or vigil's for non-BuildKit cases)."""
    assert _error(line) == message


@pytest.mark.parametrize("flag", ["interval", "timeout", "start-period", "start-interval"])
@pytest.mark.parametrize("value", ["50ns", "999us", "-1s", "-1ms"])
def test_every_duration_flag_needs_at_least_1ms(flag: str, value: str) -> None:
    """parseOptInterval: a non-zero duration under 1ms (negative too) names its flag."""
    assert _error(f"HEALTHCHECK --{flag}={value} CMD x") == (
        f'Interval "{flag}" cannot be less than 1ms'
    )


@pytest.mark.parametrize(
    "flag", ["interval", "timeout", "start-period", "start-interval", "retries"]
)
def test_every_flag_needs_a_value(flag: str) -> None:
    """A flag without ``=value`` (and not followed by one) is BFlags' missing-value error."""
    first = "--interval=1s" if flag == "retries" else "--retries=1"
    assert _error(f"HEALTHCHECK {first} --{flag} CMD x") == f"missing a value on flag: --{flag}"


def test_the_problem_is_a_config_error_with_an_empty_path() -> None:
    """Callers move the problem to their own field; this module reports it path-less."""
    with pytest.raises(ConfigError) as caught:
        parse_healthcheck_instruction("HEALTHCHECK CMD")
    assert caught.value.problems == [ConfigProblem("", "Missing command after HEALTHCHECK CMD")]
    assert str(caught.value) == "Missing command after HEALTHCHECK CMD"


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("CONNECT", '"CONNECT"'),
        ('a"b\\c', '"a\\"b\\\\c"'),
        ("\n\t\a\b\f\r\v", '"\\n\\t\\a\\b\\f\\r\\v"'),
        ("\x01\x7f", '"\\x01\\x7f"'),
        ("é€😀", '"é€😀"'),
        ("\u200b\xa0", '"\\u200b\\u00a0"'),
        ("\U000e0001", '"\\U000e0001"'),
        ("\udcff", '"\\xff"'),
        ("\ud800", '"\\ufffd"'),
    ],
)
def test_go_quote_matches_strconv_quote(text: str, quoted: str) -> None:
    """Go's strconv.Quote: escapes for controls and non-printables, printable Unicode kept."""
    assert go_quote(text) == quoted
