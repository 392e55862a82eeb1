"""The package's faces: each ``__init__.py`` hands on exactly what its ``__all__`` says."""

from __future__ import annotations

import importlib
import pkgutil
import types

import pytest

import ci_tools


def _packages() -> list[str]:
    """Every package of ci_tools (a folder with an ``__init__.py``), the root included."""
    found = [ci_tools.__name__]
    for info in pkgutil.walk_packages(ci_tools.__path__, prefix=f"{ci_tools.__name__}."):
        if info.ispkg and ".migrations" not in info.name:  # alembic's folder, not a package face
            found.append(info.name)
    return sorted(found)


def _public(module: types.ModuleType) -> set[str]:
    """The public names a module holds, but its own submodules, ``annotations`` (the
    ``from __future__`` import) and what pytest's assertion rewriting adds (``@py_builtins``)."""
    return {
        name
        for name, value in vars(module).items()
        if name.isidentifier()
        and not name.startswith("_")
        and name != "annotations"
        and not (
            isinstance(value, types.ModuleType) and value.__name__.startswith(f"{module.__name__}.")
        )
    }


def test_every_package_is_found() -> None:
    """The walk sees the packages of the layout (a renamed or lost package shows here)."""
    names = _packages()
    for package in ("context", "diagnose", "history", "plugin", "report", "rundir", "runner"):
        assert f"ci_tools.{package}" in names


@pytest.mark.parametrize("name", _packages())
def test_all_is_what_the_package_exports(name: str) -> None:
    """``__all__`` names every public name of the package's face and nothing it lacks."""
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    assert len(exported) == len(set(exported)), f"{name}.__all__ names a name twice"
    missing = [n for n in exported if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names what it lacks: {missing}"
    public = _public(module) - {"__version__"}
    assert public <= set(exported), f"{name} exports names not in __all__: {public - set(exported)}"
