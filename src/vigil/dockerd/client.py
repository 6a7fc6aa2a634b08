"""An async client for the Docker Engine API, over httpx (unix socket or plain TCP).

Only what vigil needs: list, inspect, the event stream (``since``/``until``), the container
verbs, logs, and exec (create, start, inspect). Answers are Docker's JSON, untouched (the
pure ``vigil.docker`` modules read them). The API version is negotiated once, as the docker
CLI does: the engine's own (``/_ping``'s ``API-Version``), capped at the newest vigil knows.

Why httpx and not aiodocker (bench/docker_client.py, same engine, same run): aiodocker costs
this process ~3x less CPU per call (inspect 0.27 against 0.91 ms; an exec probe's create, start
and inspect 2.1 against 5.4 ms), but an exec costs dockerd, containerd and runc ~75 ms of CPU,
so the client's share of a probe is 3% against 7%. What decides is control: vigil must own
``since``, reconnection and timeouts of the event stream (aiodocker's subscriber hides them),
tests inject transports, and httpx is already a dependency.

Errors: an answer of 400 or more raises ``DockerEngineError`` with the engine's message; an
engine that cannot be reached (or a stream cut short) raises ``DockerUnreachableError``. No
httpx exception leaves this module.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from vigil.docker.stream import Demuxer
from vigil.dockerd.host import EngineHost, parse_docker_host
from vigil.exceptions import DockerEngineError, DockerUnreachableError

__all__ = ["MAX_API_VERSION", "MIN_API_VERSION", "DockerClient", "JsonObject"]

JsonObject = dict[str, Any]
MAX_API_VERSION = "1.45"  # Engine 26: the newest whose fields vigil reads
MIN_API_VERSION = "1.41"  # Engine 20.10 (Debian 12's): the oldest vigil is tested against
_CALL_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
_STREAM_TIMEOUT = httpx.Timeout(None, connect=5.0)  # streams and stops last what they last
_MAX_LINE = 1 << 20  # one event message; anything longer is not Docker's


def _version_tuple(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in version.split("."))
    except ValueError:
        return (0,)


class DockerClient:
    """One engine's API. Use as an async context manager, or call ``aclose``."""

    def __init__(self, host: str | None = None, *,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.host: EngineHost = parse_docker_host(host)
        if transport is None:
            transport = httpx.AsyncHTTPTransport(uds=self.host.socket_path)
        self._http = httpx.AsyncClient(transport=transport, base_url=self.host.base_url,
                                       timeout=_CALL_TIMEOUT)
        self.api_version: str | None = None

    async def __aenter__(self) -> DockerClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- the engine ------------------------------------------------------------------------

    async def ping(self) -> str:
        """The API version this client speaks with the engine (negotiated on first call)."""
        try:
            response = await self._http.get("/_ping")
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None
        await _raise_for_status(response)
        offered = response.headers.get("API-Version", MIN_API_VERSION)
        self.api_version = min(offered, MAX_API_VERSION, key=_version_tuple)
        return self.api_version

    async def version(self) -> JsonObject:
        found = await self._json("GET", "/version")
        return found if isinstance(found, dict) else {}

    # -- containers ------------------------------------------------------------------------

    async def containers(self, *, all: bool = True,
                         filters: Mapping[str, Sequence[str]] | None = None) -> list[JsonObject]:
        params: dict[str, str] = {"all": "1" if all else "0"}
        if filters:
            params["filters"] = json.dumps({k: list(v) for k, v in filters.items()})
        found = await self._json("GET", "/containers/json", params=params)
        return list(found) if isinstance(found, list) else []

    async def inspect(self, ref: str) -> JsonObject:
        return await self._object(f"/containers/{_ref(ref)}/json")

    async def start(self, ref: str) -> None:
        await self._call("POST", f"/containers/{_ref(ref)}/start")

    async def stop(self, ref: str, timeout_s: int | None = None) -> None:
        params = {} if timeout_s is None else {"t": str(timeout_s)}
        await self._call("POST", f"/containers/{_ref(ref)}/stop", params=params, long=True)

    async def restart(self, ref: str, timeout_s: int | None = None) -> None:
        params = {} if timeout_s is None else {"t": str(timeout_s)}
        await self._call("POST", f"/containers/{_ref(ref)}/restart", params=params, long=True)

    async def kill(self, ref: str, signal: str | int = "SIGKILL") -> None:
        await self._call("POST", f"/containers/{_ref(ref)}/kill", params={"signal": str(signal)})

    async def pause(self, ref: str) -> None:
        await self._call("POST", f"/containers/{_ref(ref)}/pause")

    async def unpause(self, ref: str) -> None:
        await self._call("POST", f"/containers/{_ref(ref)}/unpause")

    # -- streams ---------------------------------------------------------------------------

    async def events(self, *, since: str | None = None, until: str | None = None,
                     filters: Mapping[str, Sequence[str]] | None = None,
                     ) -> AsyncIterator[JsonObject]:
        """The engine's event messages, in order: those since ``since`` (Docker's format:
        Unix seconds with up to 9 decimals), then live ones, until ``until`` or forever."""
        params: dict[str, str] = {}
        if since is not None:
            params["since"] = since
        if until is not None:
            params["until"] = until
        if filters:
            params["filters"] = json.dumps({k: list(v) for k, v in filters.items()})
        async with self._stream("GET", "/events", params=params) as response:
            buffer = b""
            try:
                async for chunk in response.aiter_raw():
                    buffer += chunk
                    *lines, buffer = buffer.split(b"\n")
                    for line in lines:
                        if line.strip():
                            yield _event(line)
                    if len(buffer) > _MAX_LINE:
                        raise DockerEngineError(502, "event message too long")
            except httpx.HTTPError as exc:
                raise self._unreachable(exc) from None

    async def logs(self, ref: str, *, tty: bool = False, stdout: bool = True,
                   stderr: bool = True, since: str | None = None, until: str | None = None,
                   tail: str = "all", timestamps: bool = False, follow: bool = False,
                   ) -> AsyncIterator[tuple[int, bytes]]:
        """(stream, bytes) pieces of the container's logs: stream 1 is stdout, 2 stderr.
        ``tty``: the container has a terminal, so the engine sends one raw stream (1)."""
        params = {"stdout": _flag(stdout), "stderr": _flag(stderr), "tail": tail,
                  "timestamps": _flag(timestamps), "follow": _flag(follow)}
        if since is not None:
            params["since"] = since
        if until is not None:
            params["until"] = until
        async with self._stream("GET", f"/containers/{_ref(ref)}/logs",
                                params=params) as response:
            async for piece in self._pieces(response, tty=tty):
                yield piece

    # -- exec ------------------------------------------------------------------------------

    async def exec_create(self, ref: str, cmd: Sequence[str], *,
                          env: Sequence[str] = (), user: str = "", workdir: str = "") -> str:
        """Create an exec instance in a running container; returns its ID."""
        body: JsonObject = {"Cmd": list(cmd), "AttachStdout": True, "AttachStderr": True,
                            "Tty": False}
        if env:
            body["Env"] = list(env)
        if user:
            body["User"] = user
        if workdir:
            body["WorkingDir"] = workdir
        created = await self._json("POST", f"/containers/{_ref(ref)}/exec", body=body)
        exec_id = created.get("Id") if isinstance(created, dict) else None
        if not isinstance(exec_id, str):
            raise DockerEngineError(502, f"exec create in {ref}: no Id in {created!r:.80}")
        return exec_id

    async def exec_start(self, exec_id: str) -> AsyncIterator[tuple[int, bytes]]:
        """Run the exec instance; yields its (stream, bytes) output until it ends."""
        async with self._stream("POST", f"/exec/{_ref(exec_id)}/start",
                                body={"Detach": False, "Tty": False}) as response:
            async for piece in self._pieces(response, tty=False):
                yield piece

    async def exec_inspect(self, exec_id: str) -> JsonObject:
        return await self._object(f"/exec/{_ref(exec_id)}/json")

    # -- internals -------------------------------------------------------------------------

    async def _object(self, path: str) -> JsonObject:
        found = await self._json("GET", path)
        if not isinstance(found, dict):
            raise DockerEngineError(502, f"{path}: the engine answered {found!r:.80}")
        return found

    async def _path(self, path: str) -> str:
        if self.api_version is None:
            await self.ping()
        return f"/v{self.api_version}{path}"

    async def _call(self, method: str, path: str, *, params: Mapping[str, str] | None = None,
                    body: JsonObject | None = None, long: bool = False) -> httpx.Response:
        url = await self._path(path)
        try:
            response = await self._http.request(
                method, url, params=params, json=body,
                timeout=_STREAM_TIMEOUT if long else _CALL_TIMEOUT)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None
        await _raise_for_status(response)
        return response

    async def _json(self, method: str, path: str, *, params: Mapping[str, str] | None = None,
                    body: JsonObject | None = None) -> Any:
        response = await self._call(method, path, params=params, body=body)
        try:
            return response.json()
        except ValueError:
            raise DockerEngineError(502, f"{path}: the engine's answer is not JSON") from None

    @asynccontextmanager
    async def _stream(self, method: str, path: str, *, params: Mapping[str, str] | None = None,
                      body: JsonObject | None = None) -> AsyncIterator[httpx.Response]:
        url = await self._path(path)
        request = self._http.build_request(method, url, params=params, json=body,
                                           timeout=_STREAM_TIMEOUT)
        try:
            response = await self._http.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None
        try:
            if response.status_code >= 400:
                await response.aread()
                await _raise_for_status(response)
            yield response
        finally:
            await response.aclose()

    async def _pieces(self, response: httpx.Response, *, tty: bool,
                      ) -> AsyncIterator[tuple[int, bytes]]:
        demuxer = Demuxer()
        try:
            async for chunk in response.aiter_raw():
                if tty:
                    yield 1, chunk
                    continue
                for frame in demuxer.feed(chunk):
                    yield frame
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None

    def _unreachable(self, exc: httpx.HTTPError) -> DockerUnreachableError:
        reason = str(exc) or type(exc).__name__
        return DockerUnreachableError(f"Docker engine at {self.host.url}: {reason}")


async def _raise_for_status(response: httpx.Response) -> None:
    if response.status_code < 400 and response.status_code != 304:
        return
    if response.status_code == 304:  # start of a running container, stop of a stopped one
        raise DockerEngineError(304, "not modified")
    await response.aread()
    try:
        message = response.json().get("message")
    except (ValueError, AttributeError):
        message = None
    if not isinstance(message, str):
        message = response.text[:200] or response.reason_phrase
    raise DockerEngineError(response.status_code, message)


def _event(line: bytes) -> JsonObject:
    try:
        event = json.loads(line)
    except ValueError:
        raise DockerEngineError(502, f"event message is not JSON: {line[:80]!r}") from None
    if not isinstance(event, dict):
        raise DockerEngineError(502, f"event message is not an object: {line[:80]!r}")
    return event


def _ref(ref: str) -> str:
    """A container name or ID as one path segment: nothing in it can reach another route."""
    if not ref or len(ref) > 256:
        raise DockerEngineError(400, f"invalid container reference {ref[:80]!r}")
    return quote(ref, safe="")


def _flag(value: bool) -> str:
    return "1" if value else "0"
