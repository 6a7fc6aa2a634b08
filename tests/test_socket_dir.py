"""The default socket's directory must be the user's own, on the daemon's and the client's
side (issue 7: another user who created ``/tmp/vigil-<uid>`` first could swap the socket)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from vigil.cli.main import cli
from vigil.client import Client, DaemonConnectionError, check_socket_dir

OTHER_UID = 65534  # nobody


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_the_daemon_creates_a_missing_directory_0700(tmp_path: Path) -> None:
    directory = tmp_path / "vigil"
    old = os.umask(0)
    try:
        check_socket_dir(str(directory), create=True)
    finally:
        os.umask(old)
    assert mode(directory) == 0o700
    assert os.lstat(directory).st_uid == os.geteuid()


def test_the_daemon_closes_its_own_open_directory(tmp_path: Path) -> None:
    directory = tmp_path / "vigil"
    directory.mkdir()
    directory.chmod(0o777)
    check_socket_dir(str(directory), create=True)
    assert mode(directory) == 0o700


def test_the_client_refuses_a_directory_others_can_write(tmp_path: Path) -> None:
    directory = tmp_path / "vigil"
    directory.mkdir()
    directory.chmod(0o777)
    with pytest.raises(DaemonConnectionError) as caught:
        check_socket_dir(str(directory), create=False)
    assert str(caught.value) == (
        f"refusing socket directory {directory}: other users can write to it (mode 0777); "
        "chmod 700 it"
    )
    directory.chmod(0o755)  # readable is fine: the socket itself is 0600
    check_socket_dir(str(directory), create=False)


@pytest.mark.parametrize("create", [True, False])
def test_another_users_directory_is_refused_on_both_ends(tmp_path: Path, create: bool) -> None:
    if os.geteuid() != 0:
        pytest.skip("making a directory another user's needs root")
    directory = tmp_path / "vigil"
    directory.mkdir(mode=0o700)
    os.chown(directory, OTHER_UID, OTHER_UID)
    with pytest.raises(DaemonConnectionError) as caught:
        check_socket_dir(str(directory), create=create)
    assert str(caught.value) == (
        f"refusing socket directory {directory}: it belongs to uid {OTHER_UID}, not to you "
        f"(uid {os.geteuid()}), so its owner could intercept vigil's requests; remove it, or "
        "choose a socket with -H unix:///path"
    )
    assert mode(directory) == 0o700  # untouched


@pytest.mark.parametrize("create", [True, False])
def test_a_symbolic_link_is_refused_on_both_ends(tmp_path: Path, create: bool) -> None:
    (tmp_path / "elsewhere").mkdir(mode=0o700)
    link = tmp_path / "vigil"
    link.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(DaemonConnectionError, match="it is a symbolic link; remove it"):
        check_socket_dir(str(link), create=create)


def test_the_default_client_checks_the_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``Client()`` with no host uses ``$XDG_RUNTIME_DIR/vigil`` and checks it first; another
    socket given explicitly is the caller's choice and is not checked."""
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    monkeypatch.delenv("VIGIL_HOST", raising=False)
    (tmp_path / "vigil").symlink_to(tmp_path)
    with pytest.raises(DaemonConnectionError, match="symbolic link"):
        Client()
    with pytest.raises(DaemonConnectionError, match="symbolic link"):
        Client(f"unix://{tmp_path}/vigil/vigil.sock")  # the default, given explicitly
    Client(f"unix://{tmp_path}/elsewhere/vigil.sock").close()


def test_vigil_up_refuses_a_foreign_default_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One clear line, before anything starts."""
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    monkeypatch.delenv("VIGIL_HOST", raising=False)
    (tmp_path / "vigil").symlink_to(tmp_path)
    (tmp_path / "vigil.yaml").write_text("services: {}\n")
    result = CliRunner().invoke(cli, ["up", "-f", str(tmp_path / "vigil.yaml")])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: refusing socket directory {tmp_path}/vigil: it is a symbolic link; remove it, "
        "or choose a socket with -H unix:///path\n"
    )
