"""`vigil check` and `vigil config` through click's CliRunner (real probes, tiny commands),
and the host of `vigil up`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from vigil.cli.main import cli

RFC3339NANO = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$"


def check(*args: str) -> tuple[int, dict[str, object], str]:
    result = CliRunner().invoke(cli, ["check", *args])
    out = json.loads(result.stdout) if result.stdout.strip() else {}
    return result.exit_code, out, result.stderr


def test_check_exec_form_passes_with_dockers_result_shape() -> None:
    """`-- CMD ARG...` runs exec form; exit 0 and one JSON object with Docker's four keys."""
    code, out, _ = check("--", "true")
    assert code == 0
    assert list(out) == ["Start", "End", "ExitCode", "Output"]
    assert (out["ExitCode"], out["Output"]) == (0, "")
    assert re.match(RFC3339NANO, str(out["Start"]))
    assert re.match(RFC3339NANO, str(out["End"]))


@pytest.mark.parametrize(
    ("args", "exit_code", "probe_exit", "output"),
    [
        (["--health-cmd", "echo hi; exit 3"], 1, 3, "hi\n"),
        (["--health-cmd", "echo $FOO", "-e", "FOO=bar"], 0, 0, "bar\n"),
        (["--health-cmd", "pwd", "-w", "/tmp"], 0, 0, "/tmp\n"),
        (["--health-cmd", "no-such-command-vigil"], 1, 127, None),
        (["--", "sh", "-c", "echo out; echo err >&2; exit 2"], 1, 2, "out\nerr\n"),
    ],
)
def test_check_runs_the_probe_with_the_runtime_semantics(
    args: list[str], exit_code: int, probe_exit: int, output: str | None
) -> None:
    """CMD-SHELL via --health-cmd, env, workdir, shell exit 127, stdout+stderr in one buffer."""
    code, out, _ = check(*args)
    assert (code, out["ExitCode"]) == (exit_code, probe_exit)
    if output is not None:
        assert out["Output"] == output


def test_check_missing_binary_is_exit_minus_one_with_the_error() -> None:
    """A CMD binary that does not exist is a probe error: ExitCode -1 and Go's text."""
    code, out, _ = check("--", "no-such-binary-vigil")
    assert code == 1
    assert out["ExitCode"] == -1
    assert out["Output"] == 'exec: "no-such-binary-vigil": executable file not found in $PATH'


def test_check_timeout_kills_and_reports_dockers_text() -> None:
    """--health-timeout bounds the probe: ExitCode -1 and Docker's message with the output."""
    code, out, _ = check("--health-cmd", "echo started; exec sleep 30", "--health-timeout", "100ms")
    assert code == 1
    assert out["ExitCode"] == -1
    assert out["Output"] == "Health check exceeded timeout (100ms): started\n"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("x", 'invalid argument "x" for "--health-timeout" flag: time: invalid duration "x"'),
        ("5", 'invalid argument "5" for "--health-timeout" flag: '
              'time: missing unit in duration "5"'),
        ("-1s", "--health-timeout cannot be negative"),
    ],
)
def test_check_timeout_flag_errors_are_docker_runs(value: str, message: str) -> None:
    """Bad --health-timeout values give docker run's (pflag's) texts and exit 2."""
    result = CliRunner().invoke(cli, ["check", "--health-timeout", value, "--", "true"])
    assert result.exit_code == 2
    assert message in result.stderr


def test_check_needs_something_to_run() -> None:
    """Without a file, --health-cmd or a command, check is a usage error."""
    result = CliRunner().invoke(cli, ["check"])
    assert result.exit_code == 2
    assert "nothing to check" in result.stderr


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "vigil.yaml"
    path.write_text(text)
    return path


def test_check_from_a_config_file_uses_the_services_settings(tmp_path: Path) -> None:
    """-f FILE SERVICE probes that service's check with its environment and directory."""
    path = write(tmp_path, f"""
services:
  web:
    environment: {{GREETING: hello}}
    working_dir: {tmp_path}
    healthcheck:
      test: echo $GREETING from $(pwd)
""")
    code, out, _ = check("-f", str(path), "web")
    assert code == 0
    assert out["Output"] == f"hello from {tmp_path}\n"


def test_check_a_service_without_a_check_is_an_error(tmp_path: Path) -> None:
    """A service with no (or a NONE) healthcheck cannot be checked: exit 1 and why."""
    path = write(tmp_path, "services:\n  web:\n    healthcheck: {test: [NONE]}\n")
    result = CliRunner().invoke(cli, ["check", "-f", str(path), "web"])
    assert result.exit_code == 1
    assert "services.web: service web has no healthcheck configured" in result.stderr


def test_config_prints_the_normalized_file(tmp_path: Path) -> None:
    """`vigil config` prints what was written, normalized; --format json is valid JSON."""
    path = write(tmp_path, """
services:
  web:
    command: python3 -m http.server
    healthcheck:
      test: curl -f http://localhost/
      interval: 90s
""")
    result = CliRunner().invoke(cli, ["config", "-f", str(path), "--format", "json"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    web = data["services"]["web"]
    assert web["command"] == ["python3", "-m", "http.server"]
    assert web["healthcheck"]["test"] == ["CMD-SHELL", "curl -f http://localhost/"]
    assert web["healthcheck"]["interval"] == "1m30s"
    yaml_out = CliRunner().invoke(cli, ["config", "-f", str(path)])
    assert yaml_out.exit_code == 0
    assert "interval: 1m30s" in yaml_out.stdout


def test_config_reports_every_problem_and_exits_1(tmp_path: Path) -> None:
    """Every problem goes to stderr, one per line with its path; nothing to stdout."""
    path = write(tmp_path, """
services:
  web:
    healthcheck:
      test: ["cmd", "true"]
      interval: 5
      retries: -1
      bogus: 1
""")
    result = CliRunner().invoke(cli, ["config", "-f", str(path)])
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert "services.web.healthcheck: Additional property bogus is not allowed" in lines
    assert ('services.web.healthcheck.test: healthcheck.test must start either by "CMD", '
            '"CMD-SHELL" or "NONE" (vigil also takes "HTTP", "TCP" and "GRPC")') in lines
    assert "services.web.healthcheck.retries: Retries in Healthcheck cannot be negative" in lines
    assert any(line.startswith("services.web.healthcheck.interval: ") for line in lines)


def test_config_yaml_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    """A YAML syntax error names the file, line and column."""
    path = write(tmp_path, "services:\n  web:\n    command: [a\n  db: {}\n")
    result = CliRunner().invoke(cli, ["config", "-f", str(path)])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{path}:")


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["-H", "bogus://here", "up"], {}),
        (["up", "-H", "bogus://here"], {}),
        (["-H", "tcp://127.0.0.1:1", "up", "-H", "bogus://here"], {}),
        (["up"], {"VIGIL_HOST": "bogus://here"}),
        (["-H", "bogus://here", "up"], {"VIGIL_HOST": "unix:///elsewhere.sock"}),
    ],
)
def test_up_takes_the_global_host_too(
    tmp_path: Path, args: list[str], env: dict[str, str]
) -> None:
    """`vigil -H X up` listens where `vigil -H X ps` talks; an unusable host is refused
    before anything starts. (A process: `up` sets up logging for the whole program.)"""
    path = write(tmp_path, "services:\n  web: {}\n")
    result = subprocess.run(
        [sys.executable, "-m", "vigil", *args, "-f", str(path), "--state-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        env={**os.environ, "VIGIL_HOST": "", **env},
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.startswith('Error: invalid host "bogus://here": ')
