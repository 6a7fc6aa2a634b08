"""``docker:`` in vigil.yaml: the engine to watch, checked like every other key."""

from __future__ import annotations

import pytest

from vigil.compose.load import load_project_text
from vigil.compose.render import render_project
from vigil.exceptions import ConfigError


@pytest.mark.parametrize(("text", "expected"), [
    ("docker: true", ""),
    ("docker: false", None),
    ("docker: null", None),
    ("docker: unix:///var/run/docker.sock", "unix:///var/run/docker.sock"),
    ("docker: tcp://127.0.0.1:2375", "tcp://127.0.0.1:2375"),
])
def test_docker_key_values(text: str, expected: str | None) -> None:
    """true: DOCKER_HOST or the default socket; false or null: none; else the URL."""
    project = load_project_text(text + "\n", environ={})
    assert project.docker == expected
    again = load_project_text(render_project(project, "yaml"), environ={})
    assert again.docker == expected  # renders and loads back


@pytest.mark.parametrize("value", ["'ssh://me@box'", "yes-please", "2375", "'unix://relative'",
                                   "[unix:///x]"])
def test_a_bad_docker_key_names_the_path_and_the_value(value: str) -> None:
    """The problem is prefixed by its path and quotes the value."""
    with pytest.raises(ConfigError) as caught:
        load_project_text(f"docker: {value}\n", environ={})
    assert str(caught.value).startswith("docker: expected true, false, unix:///PATH or "
                                        "tcp://HOST:PORT, got ")
