"""What ``POST /services/create`` refuses before the config parser sees the body.

- The name: ``vigil.core.names.service_name_problem`` (moby's rule and text, at most 128
  characters), the same check the client makes before sending.
- Lone surrogates (a JSON ``"\\ud800"`` escape decodes to one): no process argument, variable
  or log can carry them, so they are refused wherever they are, naming the field.
- ``environment`` entries without a value (``FOO``, ``{"FOO": null}``): in a config file they
  take vigil's own value, but over the API that would hand the daemon's environment to
  whoever can call it. Docker's API stores ``Env: ["FOO"]`` as is and its runtime refuses it
  at start (runc: a variable without ``=``); vigil refuses it at create, naming it. The CLI
  resolves ``vigil run -e FOO`` from the caller's environment before sending, as docker does.
"""

from __future__ import annotations

from vigil.go.strings import has_lone_surrogate


def body_problem(data: object, path: str) -> str | None:
    """The first thing a create body must not carry, as ``<field>: <why>``, or None."""
    where = _surrogate_at(data, path)
    if where is not None:
        where = where if where.isprintable() else ascii(where)
        return f"{where}: invalid Unicode: a lone surrogate (a \\ud800-\\udfff escape)"
    if isinstance(data, dict):
        return _key_only_env(data.get("environment"), f"{path}.environment")
    return None


def _surrogate_at(data: object, path: str) -> str | None:
    """Where the first string holding a lone surrogate is (iterative: bodies nest deeply)."""
    todo: list[tuple[object, str]] = [(data, path)]
    while todo:
        value, where = todo.pop()
        if isinstance(value, str):
            if has_lone_surrogate(value):
                return where
        elif isinstance(value, dict):
            for key, item in reversed(value.items()):
                if has_lone_surrogate(key):
                    return f"{where} (a key)"
                todo.append((item, f"{where}.{key}"))
        elif isinstance(value, list):
            todo.extend((item, f"{where}.{i}") for i, item in reversed(list(enumerate(value))))
    return None


def _key_only_env(value: object, where: str) -> str | None:
    names: list[tuple[str, str]] = []
    if isinstance(value, dict):
        names = [(str(key), f"{where}.{key}") for key, item in value.items() if item is None]
    elif isinstance(value, list):
        names = [
            (item, f"{where}.{i}")
            for i, item in enumerate(value)
            if isinstance(item, str) and "=" not in item
        ]
    if not names:
        return None
    name, at = names[0]
    name = name if name.isprintable() else ascii(name)  # one line, whatever was sent
    at = at if at.isprintable() else ascii(at)
    return (
        f"{at}: {name} has no value; the API does not take values from the daemon's "
        f"environment: send {name}=VALUE (vigil run -e {name} sends yours)"
    )
