"""The public surface is curated: ``__all__`` lists exactly the public names."""

from __future__ import annotations

import types

import vigil
import vigil.testing


def test_all_lists_exactly_the_public_names() -> None:
    """Every name without an underscore is in ``__all__`` and vice versa (httpx's rule)."""
    public = {name for name in vars(vigil) if not name.startswith("_")}
    submodules = {name for name in public if isinstance(getattr(vigil, name), types.ModuleType)}
    assert set(vigil.__all__) == public - submodules


def test_all_is_sorted() -> None:
    """``__all__`` is kept sorted so additions are easy to review."""
    assert list(vigil.__all__) == sorted(vigil.__all__)


def test_exported_objects_claim_the_vigil_namespace_or_a_private_module() -> None:
    """Everything exported comes from vigil itself, never from a dependency."""
    for name in vigil.__all__:
        value = getattr(vigil, name)
        if isinstance(value, types.UnionType):  # Event: a union of vigil's own classes
            assert all(arg.__module__.startswith("vigil") for arg in value.__args__)
            continue
        module = getattr(value, "__module__", "vigil")
        assert module.startswith("vigil"), name


def test_testing_helpers_are_public() -> None:
    """vigil.testing ships the fake clock, scripted probe and recorder."""
    assert set(vigil.testing.__all__) == {"EventRecorder", "FakeClock", "ProbeStep",
                                          "ScriptedProbe"}
