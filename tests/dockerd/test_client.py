"""The Engine API client against the real dockerd: list, inspect, events with since/until,
the verbs, logs and exec, errors; plus DOCKER_HOST and the stream demuxer, which need none."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest
from tests.docker_engine import HEALTH_IMAGE, DockerEngine, wait_until

from vigil.docker.stream import Demuxer
from vigil.dockerd.client import MAX_API_VERSION, DockerClient
from vigil.dockerd.host import parse_docker_host
from vigil.exceptions import DockerEngineError, DockerUnreachableError

T = TypeVar("T")


def _run(engine: DockerEngine, body: Callable[[DockerClient], Awaitable[T]]) -> T:
    async def main() -> T:
        async with DockerClient(engine.host) as client:
            return await asyncio.wait_for(body(client), 60)
    return asyncio.run(main())


def test_demuxer_reassembles_frames_cut_anywhere() -> None:
    """Frames split at every byte come out whole, in order, with their stream."""
    wire = b"\x01\x00\x00\x00\x00\x00\x00\x03out" + b"\x02\x00\x00\x00\x00\x00\x00\x04err!"
    demuxer = Demuxer()
    frames = [frame for byte in wire for frame in demuxer.feed(bytes([byte]))]
    assert frames == [(1, b"out"), (2, b"err!")]
    assert demuxer.pending == 0


def test_docker_host_is_honoured() -> None:
    """An explicit host wins, then DOCKER_HOST, then the default socket; others are refused."""
    assert parse_docker_host(None, {}).socket_path == "/var/run/docker.sock"
    assert parse_docker_host(None, {"DOCKER_HOST": "unix:///x/d.sock"}).socket_path == "/x/d.sock"
    assert parse_docker_host("tcp://127.0.0.1:2375", {"DOCKER_HOST": "unix:///x"}).base_url \
        == "http://127.0.0.1:2375"
    with pytest.raises(DockerUnreachableError, match="ssh://me@box"):
        parse_docker_host("ssh://me@box", {})


def test_unreachable_engine_is_one_clear_error(tmp_path: object) -> None:
    """No socket: DockerUnreachableError naming the host, not an httpx traceback."""
    async def main() -> None:
        async with DockerClient(f"unix://{tmp_path}/none.sock") as client:
            await client.ping()
    with pytest.raises(DockerUnreachableError, match=r"none\.sock"):
        asyncio.run(main())


def test_lists_inspects_and_acts(docker_engine: DockerEngine) -> None:
    """The verbs reach the engine: pause, unpause, restart, stop, start, kill; 404 and 304
    come back as DockerEngineError with the engine's status."""
    cid = docker_engine.run("client-verbs")

    async def body(client: DockerClient) -> list[str]:
        assert await client.ping() <= MAX_API_VERSION
        listed = await client.containers(filters={"name": ["client-verbs"]})
        assert [c["Id"] for c in listed] == [cid]
        states = []
        for verb in (client.pause, client.unpause, client.restart, client.stop, client.start):
            await verb("client-verbs")
            states.append((await client.inspect(cid))["State"]["Status"])
        with pytest.raises(DockerEngineError) as not_modified:
            await client.start("client-verbs")
        assert not_modified.value.status == 304
        await client.kill("client-verbs", "SIGKILL")
        with pytest.raises(DockerEngineError) as missing:
            await client.inspect("no-such-container")
        assert missing.value.status == 404
        assert "no-such-container" in missing.value.message
        return states

    try:
        assert _run(docker_engine, body) == ["paused", "running", "running", "exited", "running"]
        wait_until(lambda: docker_engine.inspect(cid)["State"]["Status"] == "exited",  # type: ignore[index]
                   what="killed")
    finally:
        docker_engine.docker("rm", "-f", cid)


def test_events_since_until_replay_then_end(docker_engine: DockerEngine) -> None:
    """Events between since and until come back in order, then the stream ends by itself."""
    since = f"{time.time():.9f}"
    cid = docker_engine.run("client-events")
    docker_engine.docker("rm", "-f", cid)
    until = f"{time.time() + 0.5:.9f}"

    async def body(client: DockerClient) -> list[str]:
        return [e["Action"] async for e in client.events(
            since=since, until=until, filters={"container": [cid]})]

    actions = _run(docker_engine, body)
    assert actions[0] == "create"
    assert actions.index("start") < actions.index("die") < actions.index("destroy")


def test_logs_and_exec(docker_engine: DockerEngine) -> None:
    """Logs come demultiplexed by stream; an exec's output and exit code are the command's."""
    docker_engine.docker("run", "-d", "--network", "none", "--name", "client-exec",
                         HEALTH_IMAGE, "sh", "-c",
                         "echo out; echo err >&2; trap 'exit 0' TERM; sleep 600 & wait $!")

    async def body(client: DockerClient) -> tuple[list[tuple[int, bytes]], bytes, int]:
        async def logged() -> list[tuple[int, bytes]]:
            return [piece async for piece in client.logs("client-exec")]
        pieces = await logged()
        while len(pieces) < 2:  # the shell may not have written yet
            await asyncio.sleep(0.05)
            pieces = await logged()
        exec_id = await client.exec_create("client-exec", ["sh", "-c", "echo hi; exit 3"])
        output = b"".join([data async for _, data in client.exec_start(exec_id)])
        return sorted(pieces), output, (await client.exec_inspect(exec_id))["ExitCode"]

    try:
        pieces, output, code = _run(docker_engine, body)
        assert pieces == [(1, b"out\n"), (2, b"err\n")]
        assert (output, code) == (b"hi\n", 3)
    finally:
        docker_engine.docker("rm", "-f", "client-exec")
