"""The real-dockerd harness itself: one engine per session, both images, a HEALTHCHECK that
Docker runs (so the tests built on it test Docker, not a stand-in)."""

from __future__ import annotations

from tests.docker_engine import BASE_IMAGE, HEALTH_IMAGE, DockerEngine, wait_until


def test_engine_runs_the_health_image(docker_engine: DockerEngine) -> None:
    """The HEALTHCHECK image goes unhealthy without /tmp/ok and healthy once it exists."""
    assert docker_engine.version.startswith(("20.", "2")), docker_engine.version
    images = docker_engine.docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout
    assert {BASE_IMAGE, HEALTH_IMAGE} <= set(images.split())
    docker_engine.run("harness")
    try:
        def status() -> object:
            state = docker_engine.inspect("harness")["State"]
            assert isinstance(state, dict)
            return state["Health"]["Status"]
        wait_until(lambda: status() == "unhealthy", what="unhealthy")
        docker_engine.docker("exec", "harness", "touch", "/tmp/ok")
        wait_until(lambda: status() == "healthy", what="healthy")
    finally:
        docker_engine.docker("rm", "-f", "harness")
