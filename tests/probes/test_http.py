"""The HTTP probe against real aiohttp servers on loopback: status and body rules, redirects
as Kubernetes follows them, TLS with generated certificates, servers that never answer."""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
import trustme
from aiohttp import web
from tests.probes.netservers import (
    closed_port,
    http_server,
    never_answer,
    raw_server,
    run_real,
    run_until_held,
    slow_loris,
)

from vigil.core.netspec import HttpOptions
from vigil.core.probespec import HttpSpec
from vigil.core.results import Outcome
from vigil.go.duration import MILLISECOND
from vigil.probes import ProbeReport, build_probe
from vigil.probes.http import MAX_BODY_BYTES, HttpProbe, close_sessions

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    async def main() -> T:
        try:
            return await coroutine
        finally:
            await close_sessions()

    return asyncio.run(main())


def probe(url: str, **options: Any) -> HttpProbe:
    built = build_probe(HttpSpec(url, HttpOptions(**options)))
    assert isinstance(built, HttpProbe)
    return built


async def answer(status: int, body: str = "", **options: Any) -> ProbeReport:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=status, text=body)

    async with http_server({"/health": handler}) as base:
        return await run_real(probe(base + "/health", **options))


def test_a_200_passes_with_one_line_saying_so() -> None:
    report = run(answer(200, "ok"))
    assert (report.outcome, report.exit_code) == (Outcome.PASS, 0)
    assert report.output.startswith("HTTP 200 OK in ")
    assert report.output.endswith("ms")


@pytest.mark.parametrize(("status", "passes"), [(204, True), (302, True), (399, True),
                                                 (400, False), (404, False), (503, False)])
def test_default_expect_status_is_kubernetes_200_to_399(status: int, passes: bool) -> None:
    report = run(answer(status))
    assert report.exit_code == (0 if passes else 1)
    assert report.outcome == (Outcome.PASS if passes else Outcome.FAIL)


def test_a_503_fails_with_its_standard_reason_phrase() -> None:
    report = run(answer(503))
    assert report.output.startswith("HTTP 503 Service Unavailable in ")
    assert report.exit_code == 1


def test_expect_status_codes_and_ranges() -> None:
    assert run(answer(503, expect_status=((503, 503),))).exit_code == 0
    report = run(answer(200, expect_status=((201, 204), (418, 418))))
    assert report.exit_code == 1
    assert report.output.endswith(": expected 201-204, 418")


def test_expect_body_substring() -> None:
    assert run(answer(200, "status: ready", expect_body="ready")).exit_code == 0
    report = run(answer(200, "status: starting", expect_body="ready"))
    assert report.exit_code == 1
    assert report.output.endswith(': body does not contain "ready"')


def test_expect_body_regex_is_re2() -> None:
    assert run(answer(200, '{"status":"UP"}', expect_body='/"status":\\s*"UP"/')).exit_code == 0
    report = run(answer(200, '{"status":"DOWN"}', expect_body='/"status":\\s*"UP"/'))
    assert report.output.endswith(': body does not match /"status":\\s*"UP"/')
    # catastrophic for a backtracking engine; linear for RE2
    assert run(answer(200, "a" * 5000, expect_body="/(a+)+b/")).exit_code == 1


def test_expect_body_reads_only_a_bounded_prefix() -> None:
    body = "x" * (MAX_BODY_BYTES + 100) + "needle"
    assert run(answer(200, body, expect_body="needle")).exit_code == 1
    fits = "x" * (MAX_BODY_BYTES - 6) + "needle"
    assert run(answer(200, fits, expect_body="needle")).exit_code == 0


def test_method_and_headers_are_sent() -> None:
    seen: list[tuple[str, str | None, str | None]] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append((request.method, request.headers.get("X-Probe"),
                     request.headers.get("User-Agent")))
        return web.Response(text="ok")

    async def scenario() -> ProbeReport:
        async with http_server({"/": handler}) as base:
            return await run_real(probe(base + "/", method="HEAD",
                                        headers=(("X-Probe", "1"), ("user-agent", "mine"))))

    assert run(scenario()).exit_code == 0
    assert seen == [("HEAD", "1", "mine")]


def test_max_response_time_fails_a_slow_answer() -> None:
    clock_gate = asyncio.Event()

    async def scenario() -> ProbeReport:
        async def handler(request: web.Request) -> web.Response:
            await clock_gate.wait()
            return web.Response(text="ok")

        async with http_server({"/": handler}) as base:
            from vigil.testing import FakeClock

            clock = FakeClock()
            task = asyncio.ensure_future(
                probe(base + "/", max_response_time=100 * MILLISECOND).run(
                    timeout_ns=10_000 * MILLISECOND, clock=clock)
            )
            for _ in range(200):
                await asyncio.sleep(0)
            clock.advance(250 * MILLISECOND)  # the answer comes 250ms (fake) after the start
            clock_gate.set()
            return await asyncio.wait_for(task, 30)

    report = run(scenario())
    assert report.exit_code == 1
    assert report.output == "HTTP 200 OK in 250ms: slower than max_response_time 100ms"


def test_connection_refused_is_gos_text() -> None:
    port = closed_port()
    report = run(run_real(probe(f"http://127.0.0.1:{port}/healthz")))
    assert (report.outcome, report.exit_code) == (Outcome.FAIL, 1)
    assert report.output == (
        f'Get "http://127.0.0.1:{port}/healthz": dial tcp 127.0.0.1:{port}: connect: '
        "connection refused"
    )


# -- redirects ---------------------------------------------------------------------------


def test_same_host_redirects_are_followed_to_the_answer() -> None:
    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("/elsewhere")

    async def elsewhere(request: web.Request) -> web.Response:
        return web.Response(status=503)

    async def scenario() -> ProbeReport:
        async with http_server({"/": moved, "/elsewhere": elsewhere}) as base:
            return await run_real(probe(base + "/"))

    report = run(scenario())
    assert report.output.startswith("HTTP 503 Service Unavailable")


def test_an_eleventh_redirect_fails_as_go_stops_after_ten() -> None:
    async def loop(request: web.Request) -> web.Response:
        hop = int(request.match_info["n"])
        raise web.HTTPFound(f"/r/{hop + 1}")

    async def scenario(start: str) -> ProbeReport:
        async with http_server({"/r/{n}": loop}) as base:
            return await run_real(probe(base + start))

    report = run(scenario("/r/0"))
    assert report.exit_code == 1
    assert report.output.endswith('/r/11": stopped after 10 redirects')


def test_ten_redirects_are_followed() -> None:
    async def hop(request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        if n == 10:
            return web.Response(text="arrived")
        raise web.HTTPFound(f"/r/{n + 1}")

    async def scenario() -> ProbeReport:
        async with http_server({"/r/{n}": hop}) as base:
            return await run_real(probe(base + "/r/0", expect_body="arrived"))

    assert run(scenario()).exit_code == 0


def test_a_redirect_to_another_host_is_judged_not_followed() -> None:
    """Kubernetes: http.ErrUseLastResponse for another host; the 3xx passes 200-399."""
    hits: list[str] = []

    async def away(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"http://localhost:{request.url.port}/target")

    async def target(request: web.Request) -> web.Response:
        hits.append("followed")
        return web.Response(status=500)

    async def scenario(**options: Any) -> ProbeReport:
        async with http_server({"/": away, "/target": target}) as base:
            return await run_real(probe(base + "/", **options))

    report = run(scenario())
    assert report.exit_code == 0
    assert report.output.startswith("HTTP 302 Found in ")
    assert report.output.endswith(" (redirect to localhost not followed)")
    assert hits == []
    assert run(scenario(expect_status=((200, 299),))).exit_code == 1


def test_a_303_turns_a_post_into_a_get() -> None:
    methods: list[str] = []

    async def form(request: web.Request) -> web.Response:
        methods.append(request.method)
        raise web.HTTPSeeOther("/done")

    async def done(request: web.Request) -> web.Response:
        methods.append(request.method)
        return web.Response(text="ok")

    async def scenario() -> ProbeReport:
        async with http_server({"/": form, "/done": done}) as base:
            return await run_real(probe(base + "/", method="POST"))

    assert run(scenario()).exit_code == 0
    assert methods == ["POST", "GET"]


# -- servers that hold the probe ---------------------------------------------------------


def test_a_server_that_accepts_and_never_answers_times_out() -> None:
    async def scenario() -> ProbeReport:
        async with raw_server(never_answer) as (port, accepted):
            report, _ = await run_until_held(
                probe(f"http://127.0.0.1:{port}/"), accepted, 300 * MILLISECOND)
            return report

    report = run(scenario())
    assert (report.outcome, report.exit_code) == (Outcome.TIMEOUT, -1)
    assert report.output == "Health check exceeded timeout (300ms)"


def test_a_slow_loris_body_cannot_hold_the_probe_past_its_timeout() -> None:
    async def scenario() -> ProbeReport:
        body_started = asyncio.Event()
        async with raw_server(slow_loris(body_started)) as (port, _):
            report, _ = await run_until_held(
                probe(f"http://127.0.0.1:{port}/", expect_body="never"), body_started,
                2000 * MILLISECOND)
            return report

    report = run(scenario())
    assert (report.outcome, report.output) == (
        Outcome.TIMEOUT, "Health check exceeded timeout (2s)")


# -- TLS -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def _server_tls(ca: trustme.CA, *, client_ca: trustme.CA | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    if client_ca is not None:
        client_ca.configure_trust(context)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


async def _ok(request: web.Request) -> web.Response:
    return web.Response(text="secure")


def _https(ca: trustme.CA, client_ca: trustme.CA | None = None, **options: Any) -> ProbeReport:
    async def scenario() -> ProbeReport:
        async with http_server({"/": _ok}, tls=_server_tls(ca, client_ca=client_ca)) as base:
            return await run_real(probe(base + "/", **options))

    return run(scenario())


def test_https_with_the_ca_file_passes(ca: trustme.CA, tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    report = _https(ca, ca_file=str(ca_file), expect_body="secure")
    assert report.exit_code == 0, report.output


def test_https_with_an_unknown_ca_fails_verification(ca: trustme.CA) -> None:
    report = _https(ca)
    assert report.exit_code == 1
    assert "tls: failed to verify certificate: " in report.output


def test_tls_skip_verify_accepts_an_unknown_ca(ca: trustme.CA) -> None:
    assert _https(ca, tls_skip_verify=True).exit_code == 0


def test_client_certificates_are_presented(ca: trustme.CA, tmp_path: Path) -> None:
    client_ca = trustme.CA()
    client = client_ca.issue_cert("probe@vigil")
    cert, key, ca_file = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    client.cert_chain_pems[0].write_to_path(str(cert))
    client.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(ca_file))
    with_cert = _https(ca, client_ca, ca_file=str(ca_file), client_cert=str(cert),
                       client_key=str(key))
    assert with_cert.exit_code == 0, with_cert.output
    without = _https(ca, client_ca, ca_file=str(ca_file))
    assert without.exit_code == 1


def test_an_unreadable_ca_file_means_the_probe_could_not_run(tmp_path: Path) -> None:
    report = run(run_real(probe("https://127.0.0.1:1/", ca_file=str(tmp_path / "none.pem"))))
    assert (report.outcome, report.exit_code) == (Outcome.ERROR, -1)
    assert report.output.startswith("TLS configuration: ")


def test_https_to_a_plain_http_server_says_so() -> None:
    async def scenario() -> ProbeReport:
        async with http_server({"/": _ok}) as base:
            return await run_real(probe(base.replace("http:", "https:") + "/"))

    report = run(scenario())
    assert report.exit_code == 1
    assert report.output.endswith("http: server gave HTTP response to HTTPS client")


def test_output_is_capped_like_an_exec_probes() -> None:
    """A server-chosen value (here a Location) cannot make the output longer than 4096 bytes."""

    async def away(request: web.Request) -> web.Response:
        raise web.HTTPFound("ftp://elsewhere/" + "a" * 6000)

    async def scenario() -> ProbeReport:
        async with http_server({"/": away}) as base:
            return await run_real(probe(base + "/"))

    report = run(scenario())
    assert report.exit_code == 1
    assert report.output.startswith('Get "ftp://elsewhere/aaa')
    assert report.output.endswith("a...")
    assert len(report.output.encode()) == 4096 + 3


def test_renewed_certificates_are_read_again(ca: trustme.CA, tmp_path: Path) -> None:
    """The TLS context is shared while its files are unchanged, rebuilt when one changes."""
    ca_file = tmp_path / "ca.pem"
    other = trustme.CA()
    other.cert_pem.write_to_path(str(ca_file))  # the wrong CA first
    assert _https(ca, ca_file=str(ca_file)).exit_code == 1
    ca.cert_pem.write_to_path(str(ca_file))  # "renewed": now the server's CA
    os.utime(ca_file, ns=(0, 10**18))  # a distinct mtime, whatever the file system's tick
    report = _https(ca, ca_file=str(ca_file))
    assert report.exit_code == 0, report.output


def test_a_password_in_the_url_is_sent_but_never_shown() -> None:
    seen: list[str | None] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization"))
        return web.Response(status=401)

    async def scenario() -> ProbeReport:
        async with http_server({"/": handler}) as base:
            report = await run_real(probe(base.replace("//", "//probe:s3cret@") + "/"))
        return report

    assert run(scenario()).output.startswith("HTTP 401 Unauthorized")
    assert seen == ["Basic cHJvYmU6czNjcmV0"]
    port = closed_port()
    report = run(run_real(probe(f"http://probe:s3cret@127.0.0.1:{port}/")))
    assert report.output.startswith(f'Get "http://probe:***@127.0.0.1:{port}/": dial tcp')
    assert "s3cret" not in report.output
