"""The HTTP probe (``["HTTP", URL]``), in process with aiohttp (bench/README.md: 3-4x the
fresh-connection rate of httpx here, at a quarter of the CPU).

What it does, and why:
- A fresh connection per probe (``force_close``), as Kubernetes' prober: a probe sees what a
  new client sees, and an idle pool never holds sockets. One session per event loop.
- Redirects as Kubernetes (``RedirectChecker(false)``): followed up to 10 times while the
  host name stays the same (the port and scheme may change); a redirect to another host is
  not followed and the 3xx response itself is judged (it passes the default 200-399); an 11th
  redirect fails the probe with Go's ``stopped after 10 redirects``. 301/302 turn a POST into
  a GET and 303 anything but HEAD, as Go's client does.
- ``expect_status`` (default 200-399), then ``expect_body`` (a substring, or an RE2 pattern
  ``/.../``) on the first ``MAX_BODY_BYTES`` of the body, then ``max_response_time``: the
  first rule that fails is the output. The body is read only when a rule needs it.
- The whole probe (resolution, connect, TLS, headers, body, redirects) runs under one
  ``Deadline`` on the injected clock, so a server that accepts and never answers, or sends a
  body a byte at a time, cannot hold it past the timeout.
- Output is one line, ``HTTP 503 Service Unavailable in 12ms`` (the standard reason phrase,
  never the server's, which could be anything), or Go's client error text:
  ``Get "http://127.0.0.1:9/": dial tcp 127.0.0.1:9: connect: connection refused``.
- A target that answers wrongly or cannot be reached fails (ExitCode 1); a probe that cannot
  run here (a TLS file that cannot be read) is an error (-1).
"""

from __future__ import annotations

import asyncio
import os
import ssl
from http import HTTPStatus
from urllib.parse import urljoin, urlsplit

import aiohttp
import re2  # type: ignore[import-untyped]  # google-re2 ships no type information

from vigil.core.netspec import HttpOptions
from vigil.core.probespec import HttpSpec
from vigil.core.results import Outcome, timeout_output
from vigil.exceptions import ConfigError, ConfigProblem
from vigil.go.duration import format_duration
from vigil.go.strconv import go_quote
from vigil.probes import ProbeReport, capped_report
from vigil.probes.cycles import release_frames
from vigil.probes.dial import join_host_port, os_error_text
from vigil.probes.httpconn import probe_connector
from vigil.runtime.clock import Clock, Deadline

MAX_REDIRECTS = 10  # Go's default, kept by Kubernetes
MAX_BODY_BYTES = 10 * 1024  # Kubernetes' maxRespBodyLength
USER_AGENT = "vigil-probe/1"  # as kube-probe/<version>: servers can tell probes apart
_REDIRECTS = (301, 302, 303, 307, 308)
_NO_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=None, sock_read=None, sock_connect=None)
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False
_RE2_OPTIONS.max_mem = 1 << 20

_sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}


def _session() -> aiohttp.ClientSession:
    """This loop's session: no pool (a fresh connection per request), no cookies, no
    proxies from the environment, no limit but the probes' own."""
    loop = asyncio.get_running_loop()
    session = _sessions.get(loop)
    if session is None or session.closed:
        for old in [old for old in _sessions if old.is_closed()]:
            _sessions.pop(old).detach()  # its loop is gone: nothing left to close
        session = aiohttp.ClientSession(
            connector=probe_connector(),
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=_NO_TIMEOUT,
            auto_decompress=False,  # a probe reads a prefix; no decompression bombs
            trust_env=False,
        )
        _sessions[loop] = session
    return session


async def close_sessions() -> None:
    """Close this loop's session (the daemon and ``vigil check`` call it when they end)."""
    session = _sessions.pop(asyncio.get_running_loop(), None)
    if session is not None:
        await session.close()


class _CannotRun(Exception):
    """The probe cannot run here (ExitCode -1)."""


class HttpProbe:
    """Implements the ``Probe`` protocol for an ``HttpSpec``."""

    __slots__ = ("_headers", "_options", "_pattern", "_url")

    def __init__(self, spec: HttpSpec) -> None:
        self._url = spec.url
        self._options = spec.options
        # identity: the body rule reads raw bytes, never a compressed stream
        headers = {"User-Agent": USER_AGENT, "Accept": "*/*", "Accept-Encoding": "identity"}
        for name, _ in spec.options.headers:  # user's win, case-insensitively
            for key in [key for key in headers if key.lower() == name.lower()]:
                del headers[key]
        self._headers = (*headers.items(), *spec.options.headers)
        regex = spec.options.body_regex
        try:
            self._pattern = None if regex is None else re2.compile(regex, options=_RE2_OPTIONS)
        except re2.error:  # the loader refuses it first; a library caller may not have
            problem = ConfigProblem("healthcheck.expect_body", "invalid RE2 pattern")
            raise ConfigError(problem) from None

    def __repr__(self) -> str:
        return f"HttpProbe({self._url!r})"

    async def run(self, *, timeout_ns: int, clock: Clock) -> ProbeReport:
        try:
            async with Deadline(clock, timeout_ns):
                return await self._probe(clock)
        except TimeoutError:
            return capped_report(Outcome.TIMEOUT, -1, timeout_output(timeout_ns, ""))

    async def _probe(self, clock: Clock) -> ProbeReport:
        start = clock.now_ns()
        method, url = self._options.effective_method, self._url
        first_host = urlsplit(url).hostname
        try:
            tls = _tls_context(self._options) if _is_https(url) else None
            for hops in range(MAX_REDIRECTS + 1):
                async with _session().request(
                    method, url, headers=self._headers, allow_redirects=False, ssl=tls or True
                ) as response:
                    location = response.headers.get("Location")
                    if response.status not in _REDIRECTS or location is None:
                        return await self._judge(response, clock, start, "")
                    target = urljoin(url, location)
                    parts = urlsplit(target)
                    if parts.scheme not in ("http", "https"):
                        return _fail(f"{_op(method)} {_shown(target)}: unsupported protocol "
                                     f"scheme {go_quote(parts.scheme)}")
                    if parts.hostname != first_host:  # Kubernetes: judge the 3xx itself
                        note = f" (redirect to {parts.hostname} not followed)"
                        return await self._judge(response, clock, start, note)
                    if hops == MAX_REDIRECTS:
                        return _fail(f"{_op(method)} {_shown(target)}: stopped after "
                                     f"{MAX_REDIRECTS} redirects")
                    method = _redirect_method(response.status, method)
                    url = target
                    if _is_https(url) and tls is None:
                        tls = _tls_context(self._options)
        except _CannotRun as error:
            return capped_report(Outcome.ERROR, -1, str(error))
        except (aiohttp.ClientError, OSError, ValueError) as error:
            text = _client_error_text(error)
            release_frames(error)
            return _fail(f"{_op(method)} {_shown(url)}: {text}")
        raise AssertionError("unreachable")  # pragma: no cover - the loop always returns

    async def _judge(
        self, response: aiohttp.ClientResponse, clock: Clock, start: int, note: str
    ) -> ProbeReport:
        options = self._options
        status = response.status
        body_rule = ""
        if options.expect_body and options.status_expected(status):
            body = (await _read_prefix(response.content)).decode("utf-8", "replace")
            body_rule = self._body_problem(body, options)
        elapsed = clock.now_ns() - start
        phrase = _phrase(status)
        summary = f"HTTP {status}{' ' + phrase if phrase else ''} in {elapsed // 1_000_000}ms"
        if not options.status_expected(status):
            return _fail(f"{summary}{note}: expected {_ranges(options)}"
                         if options.expect_status else summary + note)
        if body_rule:
            return _fail(f"{summary}{note}: {body_rule}")
        limit = options.max_response_time
        if limit and elapsed > limit:
            return _fail(f"{summary}{note}: slower than max_response_time {format_duration(limit)}")
        return capped_report(Outcome.PASS, 0, summary + note)

    def _body_problem(self, body: str, options: HttpOptions) -> str:
        if self._pattern is not None:
            if self._pattern.search(body) is None:
                return f"body does not match {options.expect_body}"
            return ""
        if options.expect_body not in body:
            return f"body does not contain {go_quote(options.expect_body)}"
        return ""


async def _read_prefix(content: aiohttp.StreamReader) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < MAX_BODY_BYTES:
        chunk = await content.read(MAX_BODY_BYTES - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _fail(message: str) -> ProbeReport:
    return capped_report(Outcome.FAIL, 1, message)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _ranges(options: HttpOptions) -> str:
    return ", ".join(
        str(low) if low == high else f"{low}-{high}" for low, high in options.expect_status
    )


def _op(method: str) -> str:
    """Go's ``url.Error.Op``: the method with only its first letter upper-case."""
    return method[:1] + method[1:].lower()


def _shown(url: str) -> str:
    """The URL quoted as Go's client errors show it: a password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is not None:
        userinfo, _, host = parts.netloc.rpartition("@")
        user = userinfo.partition(":")[0]
        url = parts._replace(netloc=f"{user}:***@{host}").geturl()
    return go_quote(url)


def _is_https(url: str) -> bool:
    return url.startswith("https:")


def _redirect_method(status: int, method: str) -> str:
    if status == 303 and method != "HEAD":
        return "GET"
    if status in (301, 302) and method == "POST":
        return "GET"
    return method


_TLS_CACHE_SIZE = 256
_tls_contexts: dict[tuple[object, ...], ssl.SSLContext] = {}


def _tls_context(options: HttpOptions) -> ssl.SSLContext:
    """The TLS settings of a probe, shared by probes with the same settings. Files are
    checked (``stat``) at each probe and read again when they changed, so renewed
    certificates are picked up without reading them every time."""
    files = (options.ca_file, options.client_cert, options.client_key)
    try:
        key = (options.tls_skip_verify, *files, *(_stamp(name) for name in files))
    except OSError as error:
        raise _CannotRun(f"TLS configuration: {_tls_file_error(error)}") from None
    context = _tls_contexts.get(key)
    if context is None:
        if len(_tls_contexts) >= _TLS_CACHE_SIZE:
            _tls_contexts.pop(next(iter(_tls_contexts)))  # the oldest
        context = _tls_contexts[key] = _new_tls_context(options)
    return context


def _stamp(name: str) -> tuple[int, int, int] | None:
    if not name:
        return None
    status = os.stat(name)
    return status.st_ino, status.st_mtime_ns, status.st_size  # renewals often rename


def _new_tls_context(options: HttpOptions) -> ssl.SSLContext:
    try:
        context = ssl.create_default_context(cafile=options.ca_file or None)
        if options.client_cert:
            context.load_cert_chain(options.client_cert, options.client_key or None)
    except (OSError, ssl.SSLError) as error:
        raise _CannotRun(f"TLS configuration: {_tls_file_error(error)}") from None
    if options.tls_skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _tls_file_error(error: OSError | ssl.SSLError) -> str:
    name = getattr(error, "filename", None)
    if isinstance(error, ssl.SSLError) or name is None:
        return str(error.reason if isinstance(error, ssl.SSLError) else error)
    return f"open {name}: {os_error_text(error)}"


def _client_error_text(error: BaseException) -> str:
    """Go's text for what went wrong, where Go has one."""
    if isinstance(error, aiohttp.ClientConnectorCertificateError):
        cert_error = error.certificate_error
        reason = getattr(cert_error, "verify_message", None) or str(cert_error)
        return f"tls: failed to verify certificate: {reason}"
    if isinstance(error, aiohttp.ClientConnectorSSLError):
        return _tls_error_text(error.os_error)
    if isinstance(error, aiohttp.ClientConnectorDNSError):
        return f"dial tcp: lookup {error.host}: no such host"
    if isinstance(error, aiohttp.ClientConnectorError):
        where = join_host_port(error.host, error.port or 0)
        return f"dial tcp {where}: connect: {os_error_text(error.os_error)}"
    if isinstance(error, aiohttp.ServerDisconnectedError):
        return "EOF"
    if isinstance(error, aiohttp.ClientResponseError):
        return f"malformed HTTP response: {error.message}"
    if isinstance(error, ssl.SSLError):
        return _tls_error_text(error)
    if isinstance(error, OSError):
        return os_error_text(error)
    return str(error) or type(error).__name__


_PLAIN_HTTP_REPLY = ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG")


def _tls_error_text(error: OSError) -> str:
    reason = getattr(error, "reason", None) or str(error)
    if reason in _PLAIN_HTTP_REPLY:
        return "http: server gave HTTP response to HTTPS client"  # Go's text
    return f"tls: {str(reason).lower().replace('_', ' ')}"
