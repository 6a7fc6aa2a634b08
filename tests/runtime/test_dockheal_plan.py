"""A container's plan from its inspect JSON: which health wins, the heal policy over the
daemon default, and bad labels refused with one line naming the container and the label."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from vigil.core.config import HealthcheckConfig
from vigil.core.remediation import RemediationPolicy
from vigil.daemon.dockheal import plan_container
from vigil.docker.container_config import container_healthcheck
from vigil.dockerd.client import DockerClient
from vigil.go.duration import SECOND
from vigil.probes.docker_exec import DockerExecProbe
from vigil.probes.tcp import TcpProbe

DEFAULT = RemediationPolicy("restart")
NO_ENGINE = DockerClient("unix:///nonexistent/docker.sock")  # never called by a plan
IMAGE_CHECK = {"Test": ["CMD-SHELL", "test -f /tmp/ok"], "Interval": SECOND, "Retries": 2}


def _inspect(labels: dict[str, str], healthcheck: object = None) -> dict[str, Any]:
    config: dict[str, Any] = {"Labels": labels, "Shell": ["/bin/ash", "-c"]}
    if healthcheck is not None:
        config["Healthcheck"] = healthcheck
    return {"Id": "c0ffee" * 10, "Config": config}


def test_without_labels_dockers_health_is_mirrored_and_the_default_heals() -> None:
    """No vigil probe; the container's own check gives the threshold."""
    plan = plan_container(
        "docker/web", _inspect({}, IMAGE_CHECK), api=NO_ENGINE, default_heal=DEFAULT
    )
    assert plan.probe is None
    assert plan.check == HealthcheckConfig(("CMD-SHELL", "test -f /tmp/ok"), SECOND, retries=2)
    assert plan.heal == DEFAULT


def test_timing_labels_make_vigil_run_the_images_test_in_the_container() -> None:
    """vigil's probe replaces Docker's, with the image's test and the container's shell."""
    labels = {
        "vigil.healthcheck.start_period": "1m",
        "vigil.healthcheck.start_interval": "1s",
        "vigil.heal": "stop",
    }
    plan = plan_container(
        "docker/web", _inspect(labels, IMAGE_CHECK), api=NO_ENGINE, default_heal=DEFAULT
    )
    assert isinstance(plan.probe, DockerExecProbe)
    assert plan.probe.test == ("CMD-SHELL", "test -f /tmp/ok")
    assert plan.check is not None
    assert (plan.check.start_interval, plan.check.retries) == (SECOND, 2)
    assert plan.heal == RemediationPolicy("stop")


def test_a_network_test_runs_from_vigil() -> None:
    """HTTP/TCP/gRPC tests are vigil's network probes, aimed where the label says."""
    plan = plan_container(
        "docker/db",
        _inspect({"vigil.healthcheck.test": '["TCP", "127.0.0.1:5432"]'}),
        api=NO_ENGINE,
        default_heal=DEFAULT,
    )
    assert isinstance(plan.probe, TcpProbe)


def test_bad_labels_disable_vigil_for_the_container_with_one_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Docker's health is still mirrored; nothing is healed; the line names it all."""
    with caplog.at_level(logging.ERROR, "vigil"):
        plan = plan_container(
            "docker/web",
            _inspect({"vigil.heal": "restart", "vigil.healthcheck.interval": "fast"}, IMAGE_CHECK),
            api=NO_ENGINE,
            default_heal=DEFAULT,
        )
    assert plan.probe is None
    assert plan.heal == RemediationPolicy()
    expected = (
        "container docker/web: label vigil.healthcheck.interval: time: invalid duration"
        ' "fast" (vigil runs no probe and heals nothing for it)'
    )
    assert plan.problem == expected
    assert caplog.messages == [expected]


def test_docker_healthcheck_json_of_the_wrong_shape_reads_as_unset() -> None:
    """Go's decoder leaves fields of the wrong type zero; so does vigil."""
    check = container_healthcheck({"Config": {"Healthcheck": {"Test": "x", "Retries": True}}})
    assert check == HealthcheckConfig()
    assert container_healthcheck({"Config": None}) is None
