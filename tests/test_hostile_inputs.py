"""Hostile configs and command lines: only ``ConfigError`` (one line per problem) or a clean
CLI exit, never another exception.

The generators here are driven by a ``random.Random``: Hypothesis hands them one it controls
(``st.randoms``), so failures shrink, and ``bench/fuzz_inputs.py`` loads this file to run the
same generators a million times on both cores. They make structured projects (random keys,
values and types around the real schema, surrogates, giant integers, long ``depends_on``
chains, deep nesting), mutations of real examples (special tokens, deletions, duplications,
flipped bytes) and argv for every CLI command (surrogate-escaped bytes, 70,000-character
names, out-of-range numbers and ids). The CLI runs in process against a ``MockTransport``;
``check`` never runs a probe and ``up`` never starts a daemon (``cli_harness``).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import string
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
import httpx
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vigil.compose.dockerfile import parse_healthcheck_instruction
from vigil.compose.load import load_project_text
from vigil.compose.project import parse_project, parse_service
from vigil.exceptions import ConfigError

EXAMPLES = Path(__file__).parent.parent / "examples"

# ---- generators ------------------------------------------------------------------------------

SEED_DOCS = [
    (EXAMPLES / "vigil.yaml").read_text(encoding="utf-8"),
    """\
x-base: &base
  retries: 3
services:
  web:
    command: sh -c 'echo hi'
    environment: [A=1, B, "C=x y"]
    working_dir: /tmp
    user: "1000:1000"
    shell: ["/bin/bash", "-c"]
    restart: on-failure:5
    stop_signal: SIGUSR1
    stop_grace_period: 1m30s
    depends_on: [db]
    healthcheck:
      <<: *base
      test: ["CMD", "true"]
      interval: 5s
      start_period: 1s
      start_interval: 100ms
  db:
    environment: {MODE: prod, N: 1.10, FLAG: true, EMPTY: null}
    depends_on:
      cache: {condition: service_healthy, required: false, restart: true}
    healthcheck:
      dockerfile: "HEALTHCHECK --interval=5s --retries=2 CMD [\\"pg_isready\\"]"
  cache:
    healthcheck: {disable: true}
""",
]

TOKENS = [
    '"\\UFFFFFFFF"', '"\\U00110000"', '"\\ud800"', '"\\udcff"', '"\\x00"', '"\\0"', "9" * 4301,
    "-" + "9" * 4400, "9" * 30, "0x" + "f" * 40, "0o777777777777777777777777", "1:2:3:4",
    "1_000", ".inf", "-.nan", "~", "null", "&a", "*a", "<<: *a", "!!str", "!!int", "!!binary",
    "!!python/object/apply:os.system", "!<tag:yaml.org,2002:int>", "? ", "- ", "[", "]", "{", "}",
    ",", ":", ": ", "'", '"', "#", "|", ">-", "\t", "\ufeff", "%YAML 1.1\n---\n", "\n---\n",
    "\n...\n", "\x85", "\u2028", "\u00a0", "\x07", "[" * 1200, "{a: " * 300, "- " * 700,
    "HEALTHCHECK CMD " + "[" * 3000, "HEALTHCHECK CMD " + "[" * 3000 + "]" * 3000,
    "a" * 70000, "4294967295", "99999999999", "-1", "2147483648", "0:4294967295",
    "on-failure:99999999999999999999", "SIGRTMAX+1", "SIG", "1e400", "-1s", "2562048h",
    "9223372036854775807ns", "0.0000000001s", "µs", "CMD", "CMD-SHELL", "NONE", "service_healthy",
    "depends_on:", "healthcheck:", "environment:", "dockerfile:", "services:", "x-", "<<",
]

TEXTS = [
    "", "x", "ab", "web", "5s", "1m30s", "-1s", "0", "0s", "1e3s", ".5s", "1.5h", "10µs", "1ns",
    "CMD", "CMD-SHELL", "NONE", "cmd", "true", "no", "always", "on-failure", "on-failure:-1",
    "on-failure:99999999999999999999", "unless-stopped", "SIGTERM", "TERM", "15", "0", "SIGFOO",
    "root", "nobody", "1000:1000", "4294967295", "99999999999", "0:4294967295", "-1", "+5", "٣",
    "/srv", "relative/dir", "A=1", "=x", "A", "a\0b", "\ud800", "\udcff", "x\ny", "\x1b[31m",
    "HEALTHCHECK CMD true", "HEALTHCHECK --interval=1s CMD [\"a\"]", "HEALTHCHECK NONE",
    "HEALTHCHECK --retries=" + "9" * 40 + " CMD x", "HEALTHCHECK CMD " + "[" * 2000,
    "sh -c 'echo hi'", "a; rm", "'unterminated", "service_started", "service_healthy",
    "service_completed_successfully", "a" * 300, "s" * 129, "x" * 70000,
]

CHARS = string.printable + "\0\ud800\udfff\udc80\ufeff\u2028\x85µ٣ß\U0001f600"
SERVICE_KEYS = [
    "command", "environment", "working_dir", "user", "shell", "healthcheck", "restart",
    "stop_signal", "stop_grace_period", "depends_on", "x-extra", "image", "", "healthcheck ",
]
CHECK_KEYS = [
    "test", "interval", "timeout", "start_period", "start_interval", "retries", "disable",
    "dockerfile", "x-a", "Test", "retry",
]


def hostile_text(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.6:
        return rng.choice(TEXTS)
    if roll < 0.8:
        return "".join(rng.choice(CHARS) for _ in range(rng.randint(0, 12)))
    return rng.choice(TEXTS) + rng.choice(TOKENS) + rng.choice(TEXTS)


def hostile_int(rng: random.Random) -> int:
    return rng.choice(
        [0, 1, -1, 3, 2**31 - 1, 2**31, 2**32 - 1, 2**63 - 1, 2**63, -(2**63) - 1, 2**64,
         10**4000, -(10**4000), rng.randint(-(10**6), 10**6)]
    )


def deep(rng: random.Random, depth: int) -> object:
    """A value nested ``depth`` times, built without recursion."""
    value: object = hostile_text(rng)
    for _ in range(depth):
        value = [value] if rng.random() < 0.5 else {"a": value}
    return value


def hostile_value(rng: random.Random, depth: int = 0) -> object:
    roll = rng.random()
    if roll < 0.35:
        return hostile_text(rng)
    if roll < 0.5:
        return hostile_int(rng)
    if roll < 0.55:
        return rng.choice([0.5, -0.0, 1e308, float("inf"), float("nan"), 1.10])
    if roll < 0.6:
        return rng.choice([True, False, None])
    if roll < 0.62:
        return deep(rng, rng.choice([3, 50, 600]))
    if depth > 3:
        return None
    if roll < 0.8:
        return [hostile_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {
        rng.choice([hostile_text(rng), *CHECK_KEYS, *SERVICE_KEYS]): hostile_value(rng, depth + 1)
        for _ in range(rng.randint(0, 4))
    }


def hostile_healthcheck(rng: random.Random) -> object:
    if rng.random() < 0.1:
        return hostile_value(rng)
    return {rng.choice(CHECK_KEYS): hostile_field(rng) for _ in range(rng.randint(0, 5))}


def hostile_field(rng: random.Random) -> object:
    roll = rng.random()
    if roll < 0.5:
        return hostile_text(rng)
    if roll < 0.65:
        return [rng.choice(["CMD", "CMD-SHELL", "NONE"]), *(hostile_text(rng) for _ in range(2))]
    return hostile_value(rng)


def hostile_service(rng: random.Random, names: list[str]) -> object:
    if rng.random() < 0.05:
        return hostile_value(rng)
    service: dict[object, object] = {}
    for _ in range(rng.randint(0, 6)):
        key = rng.choice(SERVICE_KEYS)
        if key == "healthcheck":
            service[key] = hostile_healthcheck(rng)
        elif key == "depends_on" and names:
            picked = rng.sample(names, min(len(names), rng.randint(1, 3)))
            long_form = rng.random() < 0.5
            service[key] = (
                {name: {"condition": hostile_text(rng)} for name in picked} if long_form else picked
            )
        elif key == "environment" and rng.random() < 0.7:
            entries = [hostile_text(rng) for _ in range(rng.randint(0, 4))]
            service[key] = entries if rng.random() < 0.5 else dict.fromkeys(entries, "v")
        else:
            service[key] = hostile_field(rng)
    return service


def hostile_project(rng: random.Random) -> object:
    """Plain data as a loaded vigil.yaml (or an API body) could hold."""
    roll = rng.random()
    if roll < 0.03:
        return hostile_value(rng)
    if roll < 0.05:  # a long dependency chain, maybe closed into a cycle
        length = rng.choice([50, 300, 1200])
        last = 0 if rng.random() < 0.5 else length
        services = {f"s{i}": {"depends_on": [f"s{i + 1}"]} for i in range(length)}
        services[f"s{length}"] = {"depends_on": [f"s{last}"]} if last == 0 else {}
        return {"services": services}
    names = [rng.choice(["web", "db", "a", "b", "x.y", "-", "_", hostile_text(rng)])
             for _ in range(rng.randint(0, 4))]
    project: dict[object, object] = {
        "services": {name: hostile_service(rng, names) for name in names}
    }
    if rng.random() < 0.1:
        project[rng.choice(["x-a", "version", hostile_text(rng)])] = hostile_value(rng)
    return project


def to_text(data: object, rng: random.Random) -> str | None:
    """``data`` as YAML text (JSON is YAML), or None when JSON cannot hold it."""
    try:
        return json.dumps(data, ensure_ascii=rng.random() < 0.5)
    except (ValueError, TypeError, RecursionError):  # 4,300+ digits, NaN keys, deep values
        return None


def mutate(text: str, rng: random.Random) -> str | bytes:
    """One to four edits of ``text``; sometimes the UTF-8 bytes with one byte changed."""
    for _ in range(rng.randint(1, 4)):
        at = rng.randint(0, len(text))
        roll = rng.random()
        if roll < 0.5:
            text = text[:at] + rng.choice(TOKENS) + text[at:]
        elif roll < 0.7:
            text = text[:at] + text[at + rng.randint(1, 20) :]
        elif roll < 0.85:
            end = min(len(text), at + rng.randint(1, 200))
            text = text[:end] + text[at:end] + text[end:]
        else:
            text = text[:at] + rng.choice(CHARS) + text[at + 1 :]
    if rng.random() < 0.1:
        raw = bytearray(text.encode("utf-8", "surrogatepass"))
        if raw:
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        return bytes(raw)
    return text


def hostile_document(rng: random.Random) -> str | bytes:
    roll = rng.random()
    if roll < 0.4:
        return mutate(rng.choice(SEED_DOCS), rng)
    text = to_text(hostile_project(rng), rng)
    if text is None:
        return mutate(rng.choice(SEED_DOCS), rng)
    return mutate(text, rng) if roll < 0.7 else text


# ---- the properties, in process --------------------------------------------------------------


def check_config_error(error: ConfigError) -> None:
    """A refusal is a list of one-line problems."""
    assert error.problems
    for problem in error.problems:
        assert str(problem).isprintable(), str(problem)


def config_case(rng: random.Random) -> None:
    """One hostile input through one of the config front doors; raises anything unexpected."""
    environ = {"A": "from-env", "B": "x"} if rng.random() < 0.5 else os.environ
    roll = rng.random()
    try:
        if roll < 0.5:
            load_project_text(hostile_document(rng), environ=environ)
        elif roll < 0.8:
            parse_project(hostile_project(rng), environ=environ)
        elif roll < 0.9:
            name = rng.choice(["web", "xx", hostile_text(rng)])
            parse_service(name, hostile_service(rng, ["db"]), path="services.x", environ=environ)
        else:
            line = mutate(rng.choice([t for t in TEXTS if t.startswith("HEALTH")]), rng)
            parse_healthcheck_instruction(line if isinstance(line, str) else line.decode("latin-1"))
    except ConfigError as error:
        check_config_error(error)


# ---- the CLI ---------------------------------------------------------------------------------

ARGS = [
    "\udcff", "a\udc80b", "x" * 70000, "4294967295", "99999999999", "-1", "0x10", "1_000",
    "99999999999999999999", "9" * 5000, "5s", "-5s", "1e400", "name=x", "health=sick", "=", "--",
    "-", "", "web", "xx", "a", "root", "0:4294967295", "+5", "٣", "SIGKILL", "SIGFOO", "all",
    "tcp://127.0.0.1:1", "tcp://example.com:1", "unix://", "unix:///nonexistent/vigil.sock",
    "2026-01-01T00:00:00Z", "on-failure:3", "on-failure:x", "/", "\n", "a b", "healthy",
]


# What argv can hold: no NUL, and only U+DC80-U+DCFF, Python's surrogateescape of bad bytes.
ARG_CHARS = "".join(c for c in CHARS if c != "\0" and not "\ud800" <= c <= "\udfff") + "\udcff"


def hostile_arg(rng: random.Random, paths: list[str]) -> str:
    roll = rng.random()
    if roll < 0.15:
        return rng.choice(paths)
    if roll < 0.75:
        return rng.choice(ARGS)
    return "".join(rng.choice(ARG_CHARS) for _ in range(rng.randint(0, 8)))


def hostile_argv(rng: random.Random, group: click.Group, paths: list[str]) -> list[str]:
    """A command of ``group`` with random options of its own and hostile values."""
    argv = ["-H", hostile_arg(rng, paths)] if rng.random() < 0.1 else []
    name = rng.choice(sorted(group.commands))
    command = group.commands[name]
    argv.append(name)
    options = [p for p in command.params if isinstance(p, click.Option)]
    for _ in range(rng.randint(0, 5)):
        if not options:
            break
        option = rng.choice(options)
        argv.append(rng.choice(option.opts))
        if not option.is_flag:
            argv.append(hostile_arg(rng, paths))
    if rng.random() < 0.3:
        argv.append("--")
    argv.extend(hostile_arg(rng, paths) for _ in range(rng.randint(0, 3)))
    return argv


def _answer(request: httpx.Request) -> httpx.Response:
    request.read()
    return httpx.Response(404, json={"message": "No such service: x"})


class _FakeDaemon:
    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    async def run(self) -> int:
        return 0


async def _no_probe(*args: object, **kwargs: object) -> Any:
    from vigil.core.results import Outcome, ProbeResult

    return ProbeResult(0, 1, 0, "", Outcome.PASS)


@contextlib.contextmanager
def cli_harness(tmp: Path) -> Iterator[tuple[Callable[[list[str]], str | None], list[str]]]:
    """``run(argv)`` runs the CLI in process and returns a traceback when it raised
    anything but a clean exit; the paths it may be given (files, a FIFO, a device...).
    Nothing reaches a real daemon, starts a probe or a daemon, or leaves the environment
    changed."""
    from vigil.cli import check, connection, up
    from vigil.cli.main import cli
    from vigil.daemon import main as daemon_main

    paths = [os.devnull, "/dev/zero", str(tmp), str(tmp / "missing.yaml"), "\udcff.yaml"]
    fifo = tmp / "fifo"
    if not fifo.exists():
        os.mkfifo(fifo)
    paths.append(str(fifo))
    rng = random.Random(7)
    for index in range(8):
        path = tmp / f"config{index}.yaml"
        content = hostile_document(rng) if index else SEED_DOCS[1]
        raw = content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass")
        path.write_bytes(raw)
        paths.append(str(path))
    environ = dict(os.environ)
    saved = (connection.transport, check.run_check, daemon_main.Daemon, up._detach)
    connection.transport = httpx.MockTransport(_answer)
    check.run_check = _no_probe  # type: ignore[assignment]
    daemon_main.Daemon = _FakeDaemon  # type: ignore[assignment, misc]
    up._detach = lambda *args: None  # type: ignore[assignment]
    runner = CliRunner(env={"VIGIL_HOST": "unix:///nonexistent/vigil.sock", "VIGIL_TOKEN": ""})

    def run(argv: list[str]) -> str | None:
        result = runner.invoke(cli, argv)
        if result.exception is None or isinstance(result.exception, SystemExit):
            return None
        assert result.exc_info is not None
        return "".join(traceback.format_exception(*result.exc_info))

    try:
        yield run, paths
    finally:
        connection.transport, check.run_check = saved[0], saved[1]
        daemon_main.Daemon = saved[2]  # type: ignore[misc]
        up._detach = saved[3]
        os.environ.clear()
        os.environ.update(environ)


# ---- Hypothesis, small counts (scripts/fuzz runs the big campaign) ---------------------------

# derandomize: the same examples on every run, so CI cannot fail by chance; the campaign
# (bench/fuzz_inputs.py) is where new random inputs are tried.
FEW = settings(
    max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)


@pytest.mark.fuzz
@FEW
@given(st.randoms(use_true_random=False))
def test_hostile_configs_give_config_errors_only(rng: random.Random) -> None:
    """Mutated examples, random projects, service bodies and HEALTHCHECK lines: a project or
    ConfigError of one-line problems, never another exception."""
    config_case(rng)


JSON_LIKE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(SERVICE_KEYS + CHECK_KEYS) | st.text(), children, max_size=4),
    max_leaves=20,
)


@pytest.mark.fuzz
@FEW
@given(st.dictionaries(st.text(max_size=8), JSON_LIKE, max_size=3))
def test_any_json_service_bodies_give_config_errors_only(body: dict[str, object]) -> None:
    """Any JSON-shaped body (surrogates and big integers included) under ``services``."""
    try:
        parse_project({"services": {"web": body, "db": {"healthcheck": body}}}, environ=os.environ)
    except ConfigError as error:
        check_config_error(error)


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, list[str]]]:
    with cli_harness(tmp_path_factory.mktemp("hostile")) as harness:
        yield harness


@pytest.mark.fuzz
@settings(FEW, max_examples=120)
@given(st.randoms(use_true_random=False))
def test_hostile_command_lines_never_raise(
    cli_run: tuple[Callable[[list[str]], str | None], list[str]], rng: random.Random
) -> None:
    """Every command with random flags and hostile values (non-UTF-8, 70,000 characters,
    out-of-range numbers): a clean exit with a message, never a traceback."""
    from vigil.cli.main import cli

    run, paths = cli_run
    argv = hostile_argv(rng, cli, paths)
    failure = run(argv)
    assert failure is None, f"{argv!r:.300}\n{failure}"
