"""The ``{ref:service}`` path parameter: one segment, or a container's or a held shared
check's two (``docker/web``, ``check/api``); never any other slash."""

from __future__ import annotations

import re

import pytest

from vigil.api.refs import ServiceRefConvertor


@pytest.mark.parametrize("ref", ["web", "0123abcd", "docker/web", "check/api"])
def test_refs_that_name_one_service(ref: str) -> None:
    assert re.fullmatch(ServiceRefConvertor.regex, ref)


@pytest.mark.parametrize("ref", ["web/history", "node/web", "docker/a/b", "check/", "a//b"])
def test_other_slashes_are_not_one_ref(ref: str) -> None:
    assert not re.fullmatch(ServiceRefConvertor.regex, ref)
