"""Passwords in store and fleet URLs never reach a message or ``vigil config``."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vigil.core.urls import redact_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://bob:s3cret@db:5432/vigil", "postgresql://bob:***@db:5432/vigil"),
        ("postgresql://bob@db/vigil", "postgresql://bob@db/vigil"),
        ("postgresql://db/vigil?user=bob&password=s3cret&sslmode=require",
         "postgresql://db/vigil?user=bob&password=***&sslmode=require"),
        ("postgresql://bob:p@ss@db/x", "postgresql://bob:***@db/x"),
        ("postgresql://db/x?next=a@b", "postgresql://db/x?next=a@b"),
        ("/var/lib/vigil/vigil.db", "/var/lib/vigil/vigil.db"),
    ],
)
def test_the_password_is_masked_and_the_rest_kept(url: str, shown: str) -> None:
    assert redact_url(url) == shown


@given(st.text(alphabet="abcXYZ019", min_size=1))
def test_no_password_survives(password: str) -> None:
    for url in (f"postgresql://u:{password}@h/d", f"postgresql://h/d?password={password}"):
        assert f"{password}@" not in redact_url(url)
        assert f"password={password}" not in redact_url(url)


def test_vigil_config_masks_the_store_password_unless_asked() -> None:
    from vigil.compose.project import parse_project
    from vigil.compose.render import project_to_dict

    project = parse_project({"services": {}, "store": "postgresql://bob:s3cret@db/v"}, environ={})
    assert project_to_dict(project, mask=lambda url: "masked")["store"] == "postgresql://bob:***@db/v"
    assert project_to_dict(project)["store"] == "postgresql://bob:s3cret@db/v"
