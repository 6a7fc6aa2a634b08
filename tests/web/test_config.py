"""Where the page listens (``web:``, ``--web``) and the token its actions need."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from vigil.api.server import ListenError
from vigil.cli.main import cli
from vigil.compose.load import load_project_text
from vigil.compose.render import render_project
from vigil.compose.web import parse_web_address
from vigil.exceptions import ConfigError
from vigil.web.serve import bind, url
from vigil.web.token import TOKEN_FILE, action_token


@pytest.mark.parametrize(("text", "expected"), [
    ("127.0.0.1:8380", ("127.0.0.1", 8380)),
    ("[::1]:8380", ("::1", 8380)),
    ("localhost:0", ("localhost", 0)),
])
def test_addresses_are_host_and_port(text: str, expected: tuple[str, int]) -> None:
    assert parse_web_address(text) == expected


@pytest.mark.parametrize(("value", "problem"), [
    ("8380", "web: invalid address '8380': expected HOST:PORT, e.g. 127.0.0.1:8380 or "
             "[::1]:8380"),
    ("127.0.0.1:70000", "web: invalid address '127.0.0.1:70000': the port must be from 0 "
                        "to 65535"),
    ("http://127.0.0.1:8380/", "web: invalid address 'http://127.0.0.1:8380/': expected "
                               "HOST:PORT, e.g. 127.0.0.1:8380 or [::1]:8380"),
    ("[evil]:80", "web: invalid address '[evil]:80': expected HOST:PORT, e.g. 127.0.0.1:8380 "
                  "or [::1]:8380"),
    ("8380", None),  # as a YAML number: not a string
])
def test_a_bad_web_key_names_the_path_and_the_value(value: str, problem: str | None) -> None:
    """``web:`` errors are collected like every other, prefixed by their path."""
    line = f"web: {value}\n" if problem is None else f"web: '{value}'\n"
    with pytest.raises(ConfigError) as caught:
        load_project_text(line + "services: {}\n", environ={})
    expected = problem or "web: must be a string"
    assert [str(p) for p in caught.value.problems] == [expected]


def test_the_web_key_renders_and_loads_back() -> None:
    """``vigil config`` keeps it: the rendered text loads into an equal project."""
    project = load_project_text("web: 127.0.0.1:8380\nservices: {}\n", environ={})
    assert project.web == "127.0.0.1:8380"
    again = load_project_text(render_project(project, "yaml"), environ={})
    assert again == project
    assert load_project_text("services: {}\n", environ={}).web is None


def test_up_refuses_a_bad_web_flag_before_starting(tmp_path: Path) -> None:
    """``vigil up --web`` is checked before anything starts, naming the flag and value."""
    (tmp_path / "vigil.yaml").write_text("services: {}\n")
    result = CliRunner().invoke(cli, [
        "-H", f"unix://{tmp_path}/s.sock", "up", "-f", str(tmp_path / "vigil.yaml"),
        "--state-dir", str(tmp_path / "state"), "--web", "nowhere"])
    assert result.exit_code == 1
    assert result.output.strip() == (
        "Error: --web 'nowhere': expected HOST:PORT, e.g. 127.0.0.1:8380 or [::1]:8380")


def test_the_page_listens_on_loopback_only_unless_allowed() -> None:
    """Like the API: a non-loopback address needs --allow-remote (which needs TLS)."""
    with pytest.raises(ListenError, match=r"^--web 0\.0\.0\.0:0: cannot listen .* only loopback"):
        bind("0.0.0.0:0", allow_remote=False)
    sock = bind("127.0.0.1:0", allow_remote=False)
    try:
        assert sock.family == socket.AF_INET
        assert url(sock, tls=False) == f"http://127.0.0.1:{sock.getsockname()[1]}/"
        assert url(sock, tls=True).startswith("https://")
    finally:
        sock.close()


def test_the_action_token_is_the_api_token_when_there_is_one(tmp_path: Path) -> None:
    assert action_token(tmp_path, "api-token-0123456789abcdef") == (
        "api-token-0123456789abcdef", "the API token")
    assert not (tmp_path / TOKEN_FILE).exists()


def test_without_one_the_daemon_keeps_its_own_token_private(tmp_path: Path) -> None:
    """Made once, mode 0600, the same on the next start; a file that is not a usable token
    (too short, a link elsewhere) is replaced, never followed."""
    token, where = action_token(tmp_path / "state", None)
    path = tmp_path / "state" / TOKEN_FILE
    assert where == f"the token in {path}"
    assert len(token) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert action_token(tmp_path / "state", None)[0] == token
    path.write_text("short\n")
    assert action_token(tmp_path / "state", None)[0] not in (token, "short")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("x" * 40)
    path.unlink()
    os.symlink(elsewhere, path)
    fresh = action_token(tmp_path / "state", None)[0]
    assert fresh != "x" * 40
    assert elsewhere.read_text() == "x" * 40
    assert not path.is_symlink()
