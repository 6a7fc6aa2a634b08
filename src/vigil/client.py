"""A typed, synchronous client for the vigil daemon's HTTP API (Docker Engine API style).

The host is ``unix:///path`` or ``tcp://127.0.0.1:PORT``: from the argument, else
``VIGIL_HOST``, else :func:`default_host` (whose directory must be the user's own:
:func:`check_socket_dir`). TCP hosts must be loopback, unless ``tls_ca`` names the CA of a
daemon serving TLS (``vigil up --allow-remote``): then the client speaks HTTPS. A daemon on
TCP wants a bearer token: ``Client(host, token=...)`` sends ``Authorization: Bearer <token>``
on every request (on a unix socket the socket's permissions are the authentication, and the
daemon ignores it). The token is never part of an error message or a repr.

Pass ``transport=`` to talk to something other than a real socket: ``httpx.MockTransport``
for canned answers, or an in-process app (``cli_daemon`` in ``tests/conftest.py`` bridges
``httpx.ASGITransport`` to this synchronous client).

Errors: an answer of 400 or more raises :class:`vigil.exceptions.ApiError` with the daemon's
``{"message"}``; a daemon that cannot be reached, or an invalid host, raises
:class:`DaemonConnectionError`; an argument that cannot be sent (text that is not valid
Unicode, such as the ``surrogateescape`` form of a non-UTF-8 command-line argument; a name or
reference longer than any service's) raises :class:`InvalidArgumentError` before anything is
sent. No ``httpx`` exception leaves this module.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import ssl
import stat
from collections.abc import Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from vigil.core.hosts import tcp_host
from vigil.core.names import MAX_NAME_LENGTH, service_name_problem, shown_name
from vigil.exceptions import ApiError, VigilError
from vigil.go.strconv import go_quote

__all__ = [
    "DEFAULT_TIMEOUT",
    "Client",
    "DaemonConnectionError",
    "InvalidArgumentError",
    "check_socket_dir",
    "check_token",
    "default_host",
    "encode_filters",
]

JsonObject = dict[str, Any]
Filters = Mapping[str, Sequence[str]]

DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=5.0)
# Streams, waits and stops last as long as they last; only connecting is bounded.
_UNBOUNDED = httpx.Timeout(None, connect=5.0)
_UDS_BASE_URL = "http://vigil"  # the authority is ignored on a unix socket


class DaemonConnectionError(VigilError):
    """The daemon could not be reached (no socket, refused, dropped), or the host or the token
    is unusable."""


class InvalidArgumentError(VigilError):
    """An argument cannot be sent to the daemon; the message names it (quoted as Go would)."""


def utf8_problem(text: str) -> str | None:
    """Why ``text`` cannot travel as UTF-8 (None: it can). Python holds an argument that was
    not valid UTF-8 with its bad bytes as lone surrogates; ``go_quote`` shows them as
    ``\\xNN``."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return f"invalid argument {go_quote(text)}: not valid UTF-8"
    return None


_MAX_REF = MAX_NAME_LENGTH + 1  # a name with moby's optional leading "/"; IDs are 64 hex


def _check_ref(ref: str) -> None:
    """A name or ID no service can have is refused here: it would not fit a URL anyway."""
    problem = utf8_problem(ref)
    if problem is None and len(ref) > _MAX_REF:
        problem = f"No such service: {shown_name(ref)}"
    if problem is not None:
        raise InvalidArgumentError(problem)


def _check_texts(values: object) -> None:
    """Every string in ``values`` (a JSON body or parameters, walked without recursion) is
    valid UTF-8; InvalidArgumentError names the first that is not."""
    pending = [values]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            problem = utf8_problem(value)
            if problem is not None:
                raise InvalidArgumentError(problem)
        elif isinstance(value, Mapping):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list | tuple):
            pending.extend(value)


def check_token(token: str) -> str | None:
    """Why ``token`` cannot be a bearer token (None: it can): it must be non-empty visible
    ASCII, since it travels in an HTTP header. The reason never quotes the token."""
    if token == "":
        return "it is empty"
    if not all("!" <= char <= "~" for char in token):
        return "it must be visible ASCII characters, without spaces or line breaks"
    return None


def default_host(environ: Mapping[str, str] | None = None, uid: int | None = None) -> str:
    """The default socket, as the daemon picks it: ``$XDG_RUNTIME_DIR/vigil/vigil.sock``,
    else ``/run/vigil/vigil.sock`` for root, else ``/tmp/vigil-<uid>/vigil.sock``. Its
    directory must be the user's own (``check_socket_dir``)."""
    env = os.environ if environ is None else environ
    user = os.geteuid() if uid is None else uid
    runtime_dir = env.get("XDG_RUNTIME_DIR")
    if runtime_dir:
        path = os.path.join(runtime_dir, "vigil", "vigil.sock")
    elif user == 0:
        path = "/run/vigil/vigil.sock"
    else:
        path = f"/tmp/vigil-{user}/vigil.sock"
    return "unix://" + path


def check_socket_dir(directory: str, *, create: bool) -> None:
    """Make sure nobody else controls the default socket's ``directory``: it must be a real
    directory (not a symbolic link) owned by this user that no one else can write to, or
    another user who made ``/tmp/vigil-<uid>`` first could swap the socket and receive every
    request, tokens and secrets included. ``create`` (the daemon) makes it mode 0700 when
    missing and takes group and other permissions off one it owns; the client only checks.
    Raises DaemonConnectionError, one line saying what is wrong and what to do."""
    try:
        if create:
            with contextlib.suppress(FileExistsError):
                os.mkdir(directory, 0o700)
        info = os.lstat(directory)
    except FileNotFoundError:
        return  # the client then says that no daemon is running
    except OSError as exc:
        raise DaemonConnectionError(f"socket directory {directory}: {exc.strerror}") from None
    user = os.geteuid()
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        what = "a symbolic link" if stat.S_ISLNK(info.st_mode) else "not a directory"
        raise DaemonConnectionError(
            f"refusing socket directory {directory}: it is {what}; remove it, or choose a "
            "socket with -H unix:///path"
        )
    if info.st_uid != user:
        raise DaemonConnectionError(
            f"refusing socket directory {directory}: it belongs to uid {info.st_uid}, not to "
            f"you (uid {user}), so its owner could intercept vigil's requests; remove it, or "
            "choose a socket with -H unix:///path"
        )
    if stat.S_IMODE(info.st_mode) & 0o077:
        if create:
            with contextlib.suppress(OSError):  # ours: nobody else needs into it
                os.chmod(directory, 0o700)
        elif stat.S_IMODE(info.st_mode) & 0o022:
            raise DaemonConnectionError(
                f"refusing socket directory {directory}: other users can write to it (mode "
                f"{stat.S_IMODE(info.st_mode):04o}); chmod 700 it"
            )


def _is_loopback(hostname: str) -> bool:
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def _parse_host(host: str, tls: bool = False) -> tuple[str, str | None]:
    """``host`` → (base URL, unix socket path or None); DaemonConnectionError if unusable.
    ``tls``: a TCP host is spoken to over HTTPS, and may be another machine."""
    if host.startswith("unix://"):
        path = host[len("unix://") :]
        if not path:
            raise DaemonConnectionError(f"invalid host {host!r}: no socket path")
        return _UDS_BASE_URL, path
    if host.startswith("tcp://"):
        address = tcp_host(host)
        if address is None:
            raise DaemonConnectionError(f"invalid host {host!r}: expected tcp://127.0.0.1:PORT")
        if not tls and not _is_loopback(address[0]):
            raise DaemonConnectionError(
                f"refusing to connect to {host}: without --tlscacert the vigil API speaks "
                "plain HTTP, so only loopback addresses (127.0.0.1, ::1, localhost) are allowed"
            )
        return f"{'https' if tls else 'http'}://{address[2]}", None
    raise DaemonConnectionError(
        f"invalid host {host!r}: expected unix:///path or tcp://127.0.0.1:PORT"
    )


def _tls_context(ca_file: str) -> ssl.SSLContext:
    """Verify the daemon's certificate against ``ca_file`` (its own, when self-signed)."""
    try:
        return ssl.create_default_context(cafile=ca_file)
    except OSError as exc:  # ssl.SSLError is one
        reason = exc.strerror or getattr(exc, "reason", None) or str(exc)
        raise DaemonConnectionError(f"--tlscacert {ca_file}: {reason}") from None


def encode_filters(filters: Filters | None) -> str | None:
    """Docker's ``filters`` query parameter: ``{"key": {"value": true}}``; None when empty."""
    if not filters:
        return None
    _check_texts(filters)  # json.dumps would escape a lone surrogate and send it
    return json.dumps(
        {key: {value: True for value in values} for key, values in filters.items()},
        separators=(",", ":"),
    )


def _flag(value: bool) -> str | None:
    return "1" if value else None


def _error_message(response: httpx.Response) -> str:
    """Docker's ``{"message"}`` body; the raw text when the body is something else."""
    text = response.text
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    return text.strip() or f"{response.status_code} {response.reason_phrase}"


class Client:
    """One connection pool to one daemon. Use as a context manager, or call :meth:`close`.

    ``timeout`` bounds the quick calls; streams, waits, stops, ``up`` and ``down`` only bound
    connecting (5 s), since they legitimately last as long as the services make them.
    """

    def __init__(
        self,
        host: str | None = None,
        *,
        token: str | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        tls_ca: str | None = None,
    ) -> None:
        self.host = host or os.environ.get("VIGIL_HOST") or default_host()
        base_url, uds = _parse_host(self.host, tls=tls_ca is not None)
        if uds is not None and transport is None and self.host == default_host():
            check_socket_dir(os.path.dirname(uds), create=False)
        headers = {}
        if token is not None:
            problem = check_token(token)
            if problem is not None:
                raise DaemonConnectionError(f"invalid token: {problem}")
            headers["Authorization"] = f"Bearer {token}"
        # Checked before each request: httpcore 1.0 leaks the socket (a ResourceWarning) when
        # connecting to a unix socket fails, and a missing file is the usual "not running".
        self._socket_path = uds if transport is None else None
        if transport is None and tls_ca is not None and uds is None:
            transport = httpx.HTTPTransport(verify=_tls_context(tls_ca))
        if transport is None:
            transport = httpx.HTTPTransport(uds=uds) if uds else httpx.HTTPTransport()
        self._http = httpx.Client(
            base_url=base_url, transport=transport, timeout=timeout, headers=headers
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- plumbing ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """Map transport failures onto DaemonConnectionError, Docker's wording first."""
        not_running = DaemonConnectionError(
            f"Cannot connect to the vigil daemon at {self.host}. Is the vigil daemon running?"
        )
        if self._socket_path is not None and not os.path.exists(self._socket_path):
            raise not_running
        try:
            yield
        except httpx.ConnectError:
            raise not_running from None
        except httpx.TimeoutException:
            raise DaemonConnectionError(
                f"timed out talking to the vigil daemon at {self.host}"
            ) from None
        except httpx.InvalidURL as exc:  # a parameter of 65,536 characters and more
            raise InvalidArgumentError(f"an argument is too long to send: {exc}") from None
        except httpx.HTTPError as exc:  # transport and decoding failures alike
            detail = str(exc) or type(exc).__name__
            raise DaemonConnectionError(
                f"error talking to the vigil daemon at {self.host}: {detail}"
            ) from None

    @staticmethod
    def _params(params: Mapping[str, str | None]) -> dict[str, str]:
        return {key: value for key, value in params.items() if value is not None}

    def _request(
        self,
        method: str,
        path: str,
        params: Mapping[str, str | None] | None = None,
        body: object = None,
        *,
        long: bool = False,
    ) -> httpx.Response:
        extra: dict[str, Any] = {"timeout": _UNBOUNDED} if long else {}
        _check_texts([params, body])
        if body is not None:
            extra["json"] = body
        with self._errors():
            response = self._http.request(method, path, params=self._params(params or {}), **extra)
        if response.status_code >= 400:
            raise ApiError(response.status_code, _error_message(response))
        return response

    @contextlib.contextmanager
    def _stream(self, path: str, params: Mapping[str, str | None]) -> Iterator[httpx.Response]:
        _check_texts(params)
        with (
            self._errors(),
            self._http.stream(
                "GET", path, params=self._params(params), timeout=_UNBOUNDED
            ) as response,
        ):
            if response.status_code >= 400:
                response.read()
                raise ApiError(response.status_code, _error_message(response))
            yield response

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise ApiError(response.status_code, "invalid JSON in the daemon's answer") from None

    @staticmethod
    def _service(ref: str, action: str = "") -> str:
        _check_ref(ref)
        return f"/services/{quote(ref, safe='')}{action}"

    def _post(self, ref: str, action: str, params: Mapping[str, str | None] | None = None) -> bool:
        """POST a service action; False when the daemon answered 304 (nothing to do)."""
        response = self._request("POST", self._service(ref, action), params, long=True)
        return response.status_code != 304

    # -- routes -----------------------------------------------------------------------------

    def ping(self) -> str:
        """``GET /_ping``: ``OK`` when the daemon is up."""
        return self._request("GET", "/_ping").text

    def version(self) -> JsonObject:
        result: JsonObject = self._json(self._request("GET", "/version"))
        return result

    def list_services(self, all: bool = False, filters: Filters | None = None) -> list[JsonObject]:
        """``GET /services/json``: running services, or every one with ``all``."""
        params = {"all": _flag(all), "filters": encode_filters(filters)}
        result: list[JsonObject] = self._json(self._request("GET", "/services/json", params))
        return result

    def inspect(self, ref: str) -> JsonObject:
        result: JsonObject = self._json(self._request("GET", self._service(ref, "/json")))
        return result

    def fleet_services(self, all: bool = False,
                       filters: Filters | None = None) -> list[JsonObject]:
        """``GET /fleet/services/json``: every node's services (``node/service``)."""
        params = {"all": _flag(all), "filters": encode_filters(filters)}
        result: list[JsonObject] = self._json(
            self._request("GET", "/fleet/services/json", params))
        return result

    def fleet_inspect(self, node: str, ref: str) -> JsonObject:
        """``GET /fleet/services/{node}/{ref}/json``."""
        _check_ref(node)
        _check_ref(ref)
        path = f"/fleet/services/{quote(node, safe='')}/{quote(ref, safe='')}/json"
        result: JsonObject = self._json(self._request("GET", path))
        return result

    def fleet_nodes(self) -> list[JsonObject]:
        """``GET /fleet/nodes``: every node and its liveness."""
        result: list[JsonObject] = self._json(self._request("GET", "/fleet/nodes"))
        return result

    def create(self, name: str, spec: Mapping[str, Any]) -> JsonObject:
        """``POST /services/create``: ``spec`` is a service entry as in vigil.yaml.
        Answers ``{"Id": ..., "Warnings": [...]}``; a name the daemon would refuse for its
        form or length (``vigil.core.names``) is refused here, before anything is sent."""
        _check_texts(name)
        problem = service_name_problem(name)
        if problem is not None:
            raise InvalidArgumentError(problem)
        response = self._request("POST", "/services/create", {"name": name}, dict(spec))
        result: JsonObject = self._json(response)
        return result

    def start(self, ref: str) -> bool:
        """True when started; False when it was already running (304)."""
        return self._post(ref, "/start")

    def stop(self, ref: str, t: int | None = None) -> bool:
        """True when stopped; False when it was not running (304). ``t``: grace seconds."""
        return self._post(ref, "/stop", {"t": None if t is None else str(t)})

    def restart(self, ref: str, t: int | None = None) -> None:
        self._post(ref, "/restart", {"t": None if t is None else str(t)})

    def kill(self, ref: str, signal: str | int | None = None) -> None:
        self._post(ref, "/kill", {"signal": None if signal is None else str(signal)})

    def pause(self, ref: str) -> None:
        self._post(ref, "/pause")

    def unpause(self, ref: str) -> None:
        self._post(ref, "/unpause")

    def remove(self, ref: str, force: bool = False) -> None:
        self._request("DELETE", self._service(ref), {"force": _flag(force)}, long=True)

    def logs(
        self,
        ref: str,
        follow: bool = False,
        tail: int | str | None = None,
        timestamps: bool = False,
    ) -> Iterator[str]:
        """The log as written, line by line, each with its newline; ``follow`` keeps going
        until the service is removed or the caller stops iterating."""
        params = {
            "follow": _flag(follow),
            "tail": None if tail is None else str(tail),
            "timestamps": _flag(timestamps),
        }
        with self._stream(self._service(ref, "/logs"), params) as response:
            pending = ""
            for chunk in response.iter_text():
                lines = (pending + chunk).splitlines(keepends=True)
                pending = lines.pop() if lines and not lines[-1].endswith("\n") else ""
                yield from lines
            if pending:
                yield pending

    def events(
        self, since: str | None = None, until: str | None = None, filters: Filters | None = None,
        *, fleet: bool = False,
    ) -> Iterator[JsonObject]:
        """``GET /events``: replayed then live events, one dict each, key order kept; with
        ``fleet``, ``GET /fleet/events``: every node's live events."""
        params = {"since": since, "until": until, "filters": encode_filters(filters)}
        with self._stream("/fleet/events" if fleet else "/events", params) as response:
            for line in response.iter_lines():
                if not line.strip():
                    continue
                try:
                    event = json.loads(line)
                except ValueError:
                    raise ApiError(response.status_code, f"invalid event JSON: {line!r}") from None
                yield event

    def info(self) -> JsonObject:
        """``GET /info``: services, the history store and warnings."""
        result: JsonObject = self._json(self._request("GET", "/info"))
        return result

    def history(
        self,
        ref: str,
        since: str | None = None,
        until: str | None = None,
        limit: int | None = None,
    ) -> list[JsonObject]:
        """``GET /services/{ref}/history``: kept probe results, oldest first."""
        params = {"since": since, "until": until,
                  "limit": None if limit is None else str(limit)}
        result: list[JsonObject] = self._json(
            self._request("GET", self._service(ref, "/history"), params))
        return result

    def wait(self, ref: str, condition: str = "exited", timeout: str | None = None) -> JsonObject:
        """``POST /services/{ref}/wait``; ``timeout`` is a Go duration (``30s``).
        Answers ``{"Met": bool, "Error": str | None, "ExitCode": int}``."""
        params = {"condition": condition, "timeout": timeout}
        response = self._request("POST", self._service(ref, "/wait"), params, long=True)
        result: JsonObject = self._json(response)
        return result

    def up(self) -> list[str]:
        """``POST /up``: start every created service; the errors, one per failed service."""
        body = self._json(self._request("POST", "/up", long=True))
        errors = body.get("Errors") if isinstance(body, dict) else None
        return [str(error) for error in errors or []]

    def down(self) -> None:
        """``POST /down``: stop every service; the daemon then exits."""
        self._request("POST", "/down", long=True)
