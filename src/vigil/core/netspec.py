"""Network health checks as plain values: the ``HTTP`` / ``TCP`` / ``GRPC`` test forms, the
HTTP options and the address rules. Pure core: stdlib only.

Texts follow Go where Go has one: ``net.SplitHostPort``'s ``address X: missing port in
address``, ``net/url``'s ``parse "X": ...``. A checked address is what the probe dials; nothing
is resolved here (names are resolved at each probe, as Kubernetes' prober does).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from vigil.go.strconv import go_quote

TEST_HTTP = "HTTP"
TEST_TCP = "TCP"
TEST_GRPC = "GRPC"
NET_TYPES = (TEST_HTTP, TEST_TCP, TEST_GRPC)

DEFAULT_METHOD = "GET"
DEFAULT_EXPECT_STATUS: tuple[tuple[int, int], ...] = ((200, 399),)  # Kubernetes' rule
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")  # no body is sent
MIN_STATUS, MAX_STATUS = 100, 599

# RFC 9110 token (header names); values: visible ASCII, space and tab, no CR/LF/NUL.
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")
_HOSTNAME = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_.-]{0,252})?")
_STATUS_RANGE = re.compile(r"([0-9]{3})(?:-([0-9]{3}))?")
MAX_URL_LENGTH = 8192  # beyond what any health endpoint needs; keeps configs and logs small


@dataclass(frozen=True, slots=True)
class HttpOptions:
    """The ``healthcheck:`` keys of an ``HTTP`` test. Empty or 0 means "not set" (defaults:
    GET, 200-399, no body rule, no response-time limit, verify TLS with the system's CAs)."""

    method: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    expect_status: tuple[tuple[int, int], ...] = ()  # inclusive ranges, as written
    expect_body: str = ""  # a substring, or a regular expression written /.../
    max_response_time: int = 0  # ns
    tls_skip_verify: bool = False
    ca_file: str = ""
    client_cert: str = ""
    client_key: str = ""

    @property
    def effective_method(self) -> str:
        return self.method or DEFAULT_METHOD

    @property
    def effective_expect_status(self) -> tuple[tuple[int, int], ...]:
        return self.expect_status or DEFAULT_EXPECT_STATUS

    def status_expected(self, status: int) -> bool:
        return any(low <= status <= high for low, high in self.effective_expect_status)

    @property
    def body_regex(self) -> str | None:
        """The pattern when ``expect_body`` is written ``/.../``, else None."""
        text = self.expect_body
        return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == "/" else None


def split_host_port(address: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` for IPv6) as Go's ``net.SplitHostPort`` reads it, with
    the port a number in 1-65535 and the host a name or an IP. Raises ``ValueError``."""
    if ":" not in address:
        raise ValueError(f"address {address}: missing port in address")
    if address.startswith("["):
        close = address.find("]")
        if close < 0:
            raise ValueError(f"address {address}: missing ']' in address")
        host, rest = address[1:close], address[close + 1 :]
        if not rest.startswith(":"):
            raise ValueError(f"address {address}: missing port in address")
        port_text = rest[1:]
        if _ip_version(host) != 6:
            raise ValueError(f"address {address}: {go_quote(host)} is not an IPv6 address")
    else:
        host, _, port_text = address.rpartition(":")
        if ":" in host:
            raise ValueError(f"address {address}: too many colons in address")
    _check_host(host, address)
    return host, _port(port_text, address)


def _port(text: str, address: str) -> int:
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError(f"address {address}: invalid port {go_quote(text)} (1-65535)")
    return int(text)


def _ip_version(host: str) -> int | None:
    try:
        return ipaddress.ip_address(host).version
    except ValueError:
        return None


def _check_host(host: str, address: str) -> None:
    if host == "":
        raise ValueError(f"address {address}: missing host")
    if _ip_version(host) is None and not _HOSTNAME.fullmatch(host):
        raise ValueError(f"address {address}: invalid host {go_quote(host)}")


def check_url(url: str) -> None:
    """An ``http://`` or ``https://`` URL with a host; raises ``ValueError`` saying why not."""
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"URL longer than {MAX_URL_LENGTH} characters")
    if not url.isascii() or not url.isprintable() or " " in url:
        raise ValueError(f"parse {go_quote(url)}: invalid character in URL (percent-encode it)")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise ValueError(f"parse {go_quote(url)}: {error}") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"unsupported protocol scheme {go_quote(parts.scheme)} (http or https)")
    host = parts.hostname or ""
    if host == "":
        raise ValueError(f"parse {go_quote(url)}: no host in request URL")
    if port == 0:
        raise ValueError(f"parse {go_quote(url)}: invalid port 0")
    if parts.netloc.rpartition("@")[2].startswith("["):
        if _ip_version(host) != 6:
            raise ValueError(f"parse {go_quote(url)}: invalid IPv6 host {go_quote(host)}")
    elif _ip_version(host) is None and not _HOSTNAME.fullmatch(host):
        raise ValueError(f"parse {go_quote(url)}: invalid host {go_quote(host)}")


def test_problem(test: tuple[str, ...]) -> tuple[int, str] | None:
    """What is wrong with a network test (``test[0]`` in ``NET_TYPES``), as (index of the
    element at fault, message), or None."""
    kind = test[0]
    arity = "URL" if kind == TEST_HTTP else "HOST:PORT"
    if kind == TEST_GRPC and len(test) not in (2, 3):
        usage = '["GRPC", "HOST:PORT"] or ["GRPC", "HOST:PORT", "SERVICE"]'
        return 0, f"{usage} expected, got {len(test) - 1} arguments"
    if kind != TEST_GRPC and len(test) != 2:
        return 0, f'["{kind}", "{arity}"] expected, got {len(test) - 1} arguments'
    try:
        if kind == TEST_HTTP:
            check_url(test[1])
        else:
            split_host_port(test[1])
    except ValueError as error:
        return 1, str(error)
    return None


def header_problem(name: str, value: str) -> str | None:
    """Why ``name: value`` cannot be sent as a request header, or None."""
    if not _TOKEN.fullmatch(name):
        return f"invalid header name {go_quote(name)}"
    if not _HEADER_VALUE.fullmatch(value):
        return f"invalid value for header {go_quote(name)}: control characters are not allowed"
    return None


def parse_status_range(text: str) -> tuple[int, int]:
    """``"200"`` or ``"200-299"`` as an inclusive range; raises ``ValueError``."""
    match = _STATUS_RANGE.fullmatch(text)
    if match is None:
        example = 'a code like 200 or a range like "200-299"'
        raise ValueError(f"invalid status {go_quote(text)}: {example}")
    low = int(match.group(1))
    high = int(match.group(2) or low)
    for code in (low, high):
        check_status(code)
    if low > high:
        raise ValueError(f"invalid status range {go_quote(text)}: {low} is greater than {high}")
    return low, high


def check_status(code: int) -> None:
    if not MIN_STATUS <= code <= MAX_STATUS:
        raise ValueError(f"invalid status {code}: HTTP codes are {MIN_STATUS}-{MAX_STATUS}")


def format_status_range(low: int, high: int) -> int | str:
    """A range as the config writes it: the bare code, or ``"low-high"``."""
    return low if low == high else f"{low}-{high}"
