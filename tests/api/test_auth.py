"""The bearer token of the TCP listener: which requests pass, which get 401, and which tokens
and hosts the daemon accepts. In memory over the real app; test_server.py serves it on
sockets."""

from __future__ import annotations

import asyncio
import string
from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from vigil.api.auth import INVALID, MIN_TOKEN_LENGTH, MISSING, BearerTokenAuth, check_token
from vigil.daemon.main import api_token
from vigil.exceptions import ConfigError

if TYPE_CHECKING:
    from conftest import ApiFactory

TOKEN = "s3cr3t-T0KEN_with.all~the+chars/=="
ROUTES = ("/_ping", "/version", "/services/json", "/openapi.json", "/metrics", "/nope")
B64TOKEN_CHARS = string.ascii_letters + string.digits + "-._~+/"


class Guarded:
    """The real app behind ``BearerTokenAuth``, one loop for many hypothesis examples."""

    def __init__(self, runner: asyncio.Runner, client: httpx.AsyncClient) -> None:
        self.runner = runner
        self.client = client

    def get(self, route: str, authorization: str | None) -> httpx.Response:
        headers = {} if authorization is None else {"Authorization": authorization}
        return self.runner.run(self.client.get(route, headers=headers))


@pytest.fixture
def guarded(api_factory: ApiFactory) -> Iterator[Guarded]:
    with asyncio.Runner() as runner:
        opened = api_factory()
        api = runner.run(opened.__aenter__())
        transport = httpx.ASGITransport(app=BearerTokenAuth(api.app, TOKEN))
        client = httpx.AsyncClient(transport=transport, base_url="http://vigil")
        try:
            yield Guarded(runner, client)
        finally:
            runner.run(client.aclose())
            runner.run(opened.__aexit__(None, None, None))


SHARED = settings(settings.get_profile("api-shared-app"), max_examples=80)
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60)


def near_misses(token: str) -> st.SearchStrategy[str]:
    """Tokens one edit away: a character changed, dropped or added, anywhere."""
    spot = st.integers(0, len(token) - 1)
    char = st.sampled_from(B64TOKEN_CHARS)
    changed = st.tuples(spot, char).map(lambda p: token[: p[0]] + p[1] + token[p[0] + 1 :])
    dropped = spot.map(lambda i: token[:i] + token[i + 1 :])
    added = st.tuples(spot, char).map(lambda p: token[: p[0]] + p[1] + token[p[0] :])
    return st.one_of(changed, dropped, added).filter(lambda t: t != token)


@SHARED
@given(
    route=st.sampled_from(ROUTES),
    scheme=st.sampled_from(["Bearer", "bearer", "BEARER", "bEaReR"]),
    pad=st.sampled_from(["", " ", "  "]),
)
def test_the_token_in_any_case_of_bearer_passes(
    guarded: Guarded, route: str, scheme: str, pad: str
) -> None:
    """RFC 7235: the scheme is case-insensitive; then the app answers as without the guard."""
    answer = guarded.get(route, f"{scheme} {pad}{TOKEN}{pad}")
    assert answer.status_code == (404 if route == "/nope" else 200)


@SHARED
@given(route=st.sampled_from(ROUTES), data=st.data())
def test_anything_else_is_401_with_docker_message(
    guarded: Guarded, route: str, data: st.DataObject
) -> None:
    """No header, another scheme, a near-miss or any other text: 401, Docker's error body,
    a Bearer challenge, and the app never sees the request."""
    authorization = data.draw(
        st.one_of(
            st.none(),
            near_misses(TOKEN).map(lambda t: f"Bearer {t}"),
            st.sampled_from(["Basic", "Token", "Bearer:", ""]).map(lambda s: f"{s} {TOKEN}"),
            header_text,
        )
    )
    if authorization is not None:
        scheme, _, credentials = authorization.strip().partition(" ")
        assume((scheme.lower(), credentials.strip()) != ("bearer", TOKEN))
    answer = guarded.get(route, authorization)
    message = MISSING if authorization is None else INVALID
    assert (answer.status_code, answer.json()) == (401, {"message": message})
    assert answer.headers["www-authenticate"] == 'Bearer realm="vigil"'
    assert answer.headers["content-type"] == "application/json"


def test_two_authorization_headers_are_refused(guarded: Guarded) -> None:
    headers = [("Authorization", f"Bearer {TOKEN}"), ("Authorization", "Bearer nope")]
    answer = guarded.runner.run(guarded.client.get("/version", headers=headers))
    assert (answer.status_code, answer.json()) == (401, {"message": INVALID})


# ---- which tokens and hosts the daemon takes ---------------------------------------------


@settings(settings.get_profile("api"))
@given(
    word=st.text(st.sampled_from(B64TOKEN_CHARS), min_size=MIN_TOKEN_LENGTH),
    padding=st.sampled_from(["", "=", "=="]),
    around=st.sampled_from(["", " ", "\n", "\t", " \r\n"]),
)
def test_bearer_token_words_are_accepted_without_surrounding_space(
    word: str, padding: str, around: str
) -> None:
    """RFC 6750's b64token of at least 16 characters; a file's newline is not part of it."""
    assert check_token(f"{around}{word}{padding}{around}", "--token-file t") == word + padding


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "the token must be one word"),
        ("two words-0123456789", "the token must be one word"),
        ("ünicode-0123456789abcdef", "the token must be one word"),
        ("=padding-first-0123456789", "the token must be one word"),
        ("line\nbreak-0123456789abcdef", "the token must be one word"),
        ("short-token", "the token has 11 characters; use at least 16 random ones"),
    ],
)
def test_bad_tokens_are_refused_naming_the_source_not_the_token(text: str, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        check_token(text, "--token-file /etc/vigil/token")
    message = str(caught.value)
    assert message.startswith(f"--token-file /etc/vigil/token: {reason}")
    assert not text or text not in message


def test_tcp_hosts_need_a_token_unix_sockets_do_not() -> None:
    host = "tcp://127.0.0.1:2375"
    with pytest.raises(ConfigError) as caught:
        api_token(host, None, "VIGIL_TOKEN")
    assert str(caught.value) == (
        f"-H {host} needs an API token, which every request over TCP must carry: "
        "pass --token-file PATH or set VIGIL_TOKEN"
    )
    assert api_token(host, f"{TOKEN}\n", "VIGIL_TOKEN") == TOKEN
    assert api_token("unix:///run/vigil.sock", None, "VIGIL_TOKEN") is None
    with pytest.raises(ConfigError, match=r"^VIGIL_TOKEN: the token has 3 characters"):
        api_token("unix:///run/vigil.sock", "abc", "VIGIL_TOKEN")
