"""Real Apprise, real HTTP: ``json://`` notifications received by a server this test runs on
loopback; a destination that hangs not delaying another; secrets never shown; config errors
from Apprise's own parser, masked, through ``vigil config``, ``vigil up`` and the API."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from tests.notify.inbox import WAIT_S, Inbox, serve_inbox

from vigil import Engine, HealthcheckConfig
from vigil.api import create_app
from vigil.cli import connection
from vigil.cli.main import cli
from vigil.core.notify import FlapPolicy
from vigil.daemon.manager import Manager
from vigil.exceptions import NotifyError
from vigil.go.duration import MINUTE, SECOND
from vigil.notify import Message
from vigil.notify.apprise_notifier import AppriseNotifier
from vigil.notify.dispatch import Destination, Dispatcher
from vigil.notify.service import Notifications
from vigil.notify.subscriber import Settings
from vigil.notify.threads import SendThreads
from vigil.notify.urls import mask_url, url_problems
from vigil.runtime.clock import SystemClock
from vigil.testing import FakeClock, ScriptedProbe, settle

SECRET = "hunter2-s3cr3t"


@pytest.fixture
def server() -> Iterator[tuple[str, Inbox]]:
    with serve_inbox() as served:
        yield served


def test_a_json_url_delivers_title_body_and_type(server: tuple[str, Inbox]) -> None:
    where, inbox = server

    async def scenario() -> None:
        threads = SendThreads()
        notifier = AppriseNotifier(f"json://ops:{SECRET}@{where}/hook", threads)
        assert SECRET not in notifier.name
        await notifier.send(Message("vigil: web is unhealthy", "Status: x", "failure"))

    asyncio.run(scenario())
    [body] = inbox.wait_for(1)
    assert (body["title"], body["message"], body["type"]) == (
        "vigil: web is unhealthy", "Status: x", "failure")
    assert inbox.posts[0][2].startswith("Basic ")  # the credentials went where they belong


def test_a_refusing_destination_raises_notify_error_without_the_secret(
        server: tuple[str, Inbox], caplog: pytest.LogCaptureFixture) -> None:
    where, _ = server

    async def scenario() -> None:
        threads = SendThreads()
        notifier = AppriseNotifier(f"json://ops:{SECRET}@{where}/fail", threads)
        with pytest.raises(NotifyError) as caught:
            await notifier.send(Message("t", "b"))
        assert SECRET not in str(caught.value)

    with caplog.at_level(logging.DEBUG):
        asyncio.run(scenario())
    assert caplog.messages  # Apprise said why...
    assert not [m for m in caplog.messages if SECRET in m]  # ...without the password


def test_a_hanging_destination_does_not_delay_another(server: tuple[str, Inbox]) -> None:
    """Real Apprise sends from the thread pool: the fast server gets both messages while the
    slow one still holds the first."""
    where, inbox = server

    async def scenario() -> None:
        clock = SystemClock()
        threads = SendThreads()
        # Deadlines and socket timeouts past WAIT_S: on a busy machine no attempt is retried
        # (a retry would post a message twice), whatever the fast destination's delay.
        dispatcher = Dispatcher(lambda url: AppriseNotifier(url, threads, timeout_s=WAIT_S),
                                clock, timeout_ns=int(2 * WAIT_S * SECOND))
        for title in ("one", "two"):
            dispatcher.send([f"json://{where}/slow?rto=60", f"json://{where}/fast"],
                            Message(title, "b"))
        fast = await asyncio.to_thread(inbox.wait_for, 2, "/fast")
        assert [b["title"] for b in fast] == ["one", "two"]
        assert inbox.bodies("/slow") == []  # still held: it delayed nobody
        inbox.release.set()
        assert await dispatcher.drain(int(WAIT_S * SECOND))
        assert [b["title"] for b in inbox.bodies("/slow")] == ["one", "two"]

    asyncio.run(scenario())


def test_an_unhealthy_service_is_notified_through_the_engine(server: tuple[str, Inbox]) -> None:
    where, inbox = server

    async def scenario() -> None:
        clock = SystemClock()
        async with Engine(clock=clock) as engine:
            settings = Settings((f"json://{where}/web",), FlapPolicy())
            notifications = Notifications(engine.stream, clock, lambda target: settings)
            notifications.start()
            check = HealthcheckConfig(test=("CMD", "x"), interval=1_000_000, retries=1)
            engine.add("web", check, probe=ScriptedProbe([0, 1]))
            engine.start("web")
            [body] = await asyncio.to_thread(inbox.wait_for, 1)
            await notifications.aclose()
        assert body["title"] == "vigil: web is unhealthy"
        assert "Status: healthy → unhealthy\nFailing streak: 1" in body["message"]

    asyncio.run(scenario())


# -- config time: Apprise's parser, masked ----------------------------------------------------

@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (f"nope://{SECRET}@x", "nope://****: unsupported Apprise scheme nope://"),
        (f"discord://{SECRET}/", "discord://****: Apprise cannot use it: An invalid Discord "
                                 "Webhook Token (None) was specified"),
        ("127.0.0.1/hook", "****: not an Apprise URL (expected SCHEME://...)"),
        ("json://127.0.0.1:x/", "json://****: not a valid json:// URL for Apprise"),
    ],
)
def test_url_problems_use_apprise_and_hide_secrets(url: str, problem: str) -> None:
    assert [str(p) for p in url_problems([url], "services.web.notify")] == [
        f"services.web.notify.0: {problem}"]


def test_apprise_reasons_quoting_the_url_are_scrubbed() -> None:
    """Apprise's reason can echo parts of the URL, decoded: each is cut to first...last."""
    [problem] = url_problems(["mailto://?from=hunter2%20s3cr3tname%40x"], "notify")
    assert str(problem) == ("notify.0: mailto://****: Apprise cannot use it: Invalid ~From~ "
                            "email specified: h...2 s...e@x <>")
    [problem] = url_problems([f"slack://T1JJ3T3L2/{SECRET}/"], "notify")
    assert SECRET not in str(problem)


def test_mask_url_keeps_the_shape_and_hides_credentials() -> None:
    masked = mask_url(f"json://ops:{SECRET}@127.0.0.1:9000/hook")
    assert masked.startswith("json://ops:****@127.0.0.1:9000/hook")
    token = mask_url("discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js")
    assert "JHMHI8qBe7bk2ZwO5U711o3dV_js" not in token
    assert token.startswith("discord://4...8/J...s/")


CONFIG = f"""\
notify: ["json://ops:{SECRET}@127.0.0.1:9/all"]
services:
  web:
    command: ["true"]
    notify: ["mailto://me:{SECRET}@example.com"]
"""


def test_vigil_config_masks_notify_urls_unless_asked(tmp_path: Path) -> None:
    path = tmp_path / "vigil.yaml"
    path.write_text(CONFIG)
    shown = CliRunner().invoke(cli, ["config", "-f", str(path)])
    assert shown.exit_code == 0, shown.output
    assert SECRET not in shown.output
    assert "json://ops:****@127.0.0.1:9/all" in shown.output
    whole = CliRunner().invoke(cli, ["config", "-f", str(path), "--show-secrets"])
    assert whole.output.count(SECRET) == 2


def test_vigil_config_reports_every_unusable_url(tmp_path: Path) -> None:
    path = tmp_path / "vigil.yaml"
    path.write_text(f"notify: ['nope://{SECRET}']\nservices:\n  web:\n"
                    f"    notify: ['json://ok', 'discord://{SECRET}/']\n")
    result = CliRunner().invoke(cli, ["config", "-f", str(path)])
    assert result.exit_code == 1
    assert SECRET not in result.output
    assert result.output.splitlines() == [
        "notify.0: nope://****: unsupported Apprise scheme nope://",
        "services.web.notify.1: discord://****: Apprise cannot use it: An invalid Discord "
        "Webhook Token (None) was specified",
    ]


def test_vigil_up_checks_notify_flags_before_starting(tmp_path: Path) -> None:
    path = tmp_path / "vigil.yaml"
    path.write_text("services: {}\n")
    result = CliRunner().invoke(
        cli, ["-H", f"unix://{tmp_path}/vigil.sock", "up", "-f", str(path),
              "--state-dir", str(tmp_path / "state"), "--notify", f"nope://{SECRET}"])
    assert result.exit_code == 1
    assert result.output.strip() == "--notify: nope://****: unsupported Apprise scheme nope://"
    assert not (tmp_path / "state").exists()


def test_api_create_refuses_an_unusable_url_masked(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        engine = Engine(clock=clock)
        manager = Manager(clock=clock, engine=engine, log_dir=tmp_path)
        transport = httpx.ASGITransport(app=create_app(manager, on_down=lambda: None))
        async with engine, httpx.AsyncClient(transport=transport, base_url="http://v") as api:
            answer = await api.post(
                "/services/create?name=web", json={"notify": [f"discord://{SECRET}/"]})
            assert answer.status_code == 400
            assert SECRET not in answer.text
            assert answer.json()["message"].startswith("services.web.notify.0: discord://****")
            created = await api.post(
                "/services/create?name=ok", json={"notify": ["json://127.0.0.1:9/x"]})
            assert created.status_code == 201
            shown = await api.get("/services/ok/json")
            assert "127.0.0.1:9" not in shown.text  # not in Docker's inspect shape at all

    asyncio.run(scenario())


def test_a_hung_send_holds_one_thread_and_the_next_attempt_waits_for_it() -> None:
    """An attempt abandoned at its deadline keeps its thread; the retries wait for that thread
    instead of starting more, so a destination that hangs holds one thread, not the pool."""
    gate = threading.Event()
    calls: list[str] = []

    class Stuck(AppriseNotifier):
        def _send(self, message: Message) -> bool:
            calls.append(message.title)
            return gate.wait(WAIT_S)

    async def scenario() -> None:
        clock = FakeClock()
        threads = SendThreads(limit=2)
        notifier = Stuck("json://127.0.0.1:9/x", threads)
        destination = Destination(notifier, clock, attempts=3, timeout_ns=SECOND)
        destination.put(Message("a", ""))
        await clock.run_for(MINUTE)  # three attempts, each past its deadline
        assert (calls, threads.alive, destination.failed) == (["a"], 1, 1)
        gate.set()
        running = notifier.in_flight
        assert running is not None
        await asyncio.wait([running], timeout=WAIT_S)
        destination.put(Message("b", ""))
        await settle()  # b's attempt has started its thread; the fake clock stays put
        if (running := notifier.in_flight) is not None:
            await asyncio.wait([running], timeout=WAIT_S)
        await settle()
        assert (calls, destination.sent, threads.alive) == (["a", "b"], 1, 0)

    asyncio.run(scenario())


def test_vigil_run_sends_notify_urls_in_the_create_body(monkeypatch: pytest.MonkeyPatch) -> None:
    bodies: list[dict[str, Any]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/services/create":
            bodies.append(json.loads(request.content))
            return httpx.Response(201, json={"Id": "f" * 64, "Warnings": []})
        return httpx.Response(204)

    monkeypatch.setattr(connection, "transport", httpx.MockTransport(answer))
    result = CliRunner().invoke(cli, ["run", "-d", "--name", "web", "--notify", "json://h/a",
                                      "--notify", "json://h/b", "--", "sleep", "9"])
    assert result.exit_code == 0, result.output
    assert bodies == [{"command": ["sleep", "9"], "notify": ["json://h/a", "json://h/b"]}]
