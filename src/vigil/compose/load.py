"""Reading ``vigil.yaml``: the I/O edge in front of the pure ``_compose`` parser.

YAML is read with a ``SafeLoader`` subclass that behaves like compose's YAML library
(yaml.v3) where PyYAML's YAML 1.1 defaults would surprise:

- only ``true``/``false`` (any case form of those two) are booleans; ``yes``, ``no``, ``on``,
  ``off`` stay strings, and so do dates (``2024-01-01``) and ``=``;
- mapping keys are taken as written (``1:`` is the key ``"1"``); a key given twice in one
  mapping is an error (compose's YAML library rejects it too), merge keys (``<<``) still work;
- numbers keep their text (``TextInt``/``TextFloat``), so ``VERSION: 1.10`` stays ``1.10``.

Syntax errors are reported as ``<source>:<line>:<column>: <problem>`` (1-based, PyYAML's
wording). The environment used for ``KEY``-only variables is ``os.environ`` unless given.
"""

from __future__ import annotations

import codecs
import os
import re
from collections.abc import Hashable, Mapping
from pathlib import Path

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode

from vigil.compose.project import TextFloat, TextInt, parse_project
from vigil.core.config import ProjectConfig
from vigil.exceptions import ConfigError, ConfigProblem

_BOOL_TAG = "tag:yaml.org,2002:bool"
_DROPPED_TAGS = {_BOOL_TAG, "tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:value"}
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _VigilLoader(yaml.SafeLoader):
    """SafeLoader with yaml.v3's booleans, keys as written, no duplicate keys, number text."""

    def construct_mapping(self, node: Node, deep: bool = False) -> dict[Hashable, object]:
        if not isinstance(node, MappingNode):
            message = f"expected a mapping node, but found {getattr(node, 'id', 'node')}"
            raise ConstructorError(None, None, message, node.start_mark)
        seen: dict[str, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            if not isinstance(key_node, ScalarNode):
                raise ConstructorError(
                    None, None, "mapping keys must be strings", key_node.start_mark
                )
            if key_node.value in seen:
                line = seen[key_node.value]
                message = f'mapping key "{key_node.value}" already defined at line {line}'
                raise ConstructorError(None, None, message, key_node.start_mark)
            seen[key_node.value] = key_node.start_mark.line + 1
        self.flatten_mapping(node)
        mapping: dict[Hashable, object] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):  # only after a merge of odd keys
                raise ConstructorError(
                    None, None, "mapping keys must be strings", key_node.start_mark
                )
            mapping[key_node.value] = self.construct_object(value_node, deep=deep)
        return mapping

    def construct_text_int(self, node: ScalarNode) -> TextInt:
        return TextInt(self.construct_yaml_int(node), node.value)

    def construct_text_float(self, node: ScalarNode) -> TextFloat:
        return TextFloat(self.construct_yaml_float(node), node.value)


_VigilLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in _DROPPED_TAGS]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_VigilLoader.add_implicit_resolver(
    _BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_VigilLoader.add_constructor("tag:yaml.org,2002:int", _VigilLoader.construct_text_int)
_VigilLoader.add_constructor("tag:yaml.org,2002:float", _VigilLoader.construct_text_float)


def load_yaml(text: str | bytes, *, source: str = "vigil.yaml") -> object:
    """One YAML document as plain data, with errors as ``ConfigError``s naming the place."""
    try:
        return yaml.load(text, Loader=_VigilLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        message = error.problem or error.context or "invalid YAML"
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise ConfigError(ConfigProblem(where, message)) from None
    except yaml.reader.ReaderError as error:  # bad encoding or a non-printable character
        raise ConfigError(_reader_problem(error, text, source)) from None


def _reader_problem(
    error: yaml.reader.ReaderError, text: str | bytes, source: str
) -> ConfigProblem:
    position: int = error.position
    if error.encoding != "unicode":  # undecodable bytes: the position counts bytes
        message = f"'{error.encoding}' codec can't decode byte #x{error.character:02x}"
        return ConfigProblem(source, f"{message}: {error.reason} (byte {position})")
    decoded = text if isinstance(text, str) else text.decode(_encoding(text), "replace")
    line = decoded.count("\n", 0, position) + 1
    column = position - decoded.rfind("\n", 0, position)
    return ConfigProblem(f"{source}:{line}:{column}", str(error).split("\n", 1)[0])


def _encoding(raw: bytes) -> str:
    """The encoding PyYAML's reader picks for bytes (its BOM check)."""
    if raw.startswith(codecs.BOM_UTF16_LE):
        return "utf-16-le"
    if raw.startswith(codecs.BOM_UTF16_BE):
        return "utf-16-be"
    return "utf-8"


def load_project_text(
    text: str | bytes, *, source: str = "vigil.yaml", environ: Mapping[str, str] | None = None
) -> ProjectConfig:
    """A project from YAML text; ``source`` names it in error messages."""
    data = load_yaml(text, source=source)
    return parse_project(data, environ=os.environ if environ is None else environ)


def load_project_file(
    path: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None
) -> ProjectConfig:
    """A project from a file (default name ``vigil.yaml``), its path naming it in errors."""
    try:
        content = Path(path).read_bytes()
    except OSError as error:
        reason = (error.strerror or str(error)).lower()
        raise ConfigError(ConfigProblem("", f"open {os.fspath(path)}: {reason}")) from None
    return load_project_text(content, source=os.fspath(path), environ=environ)
