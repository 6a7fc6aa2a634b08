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

Hostile input gets one such line, never another exception (yaml.v3's texts where it has one):

- nesting deeper than :data:`MAX_DEPTH` (yaml.v3 allows 10,000; PyYAML's composer recurses and
  would hit Python's recursion limit): ``exceeded max depth of 100``;
- an escape that is no Unicode character (``"\\UFFFFFFFF"``, ``"\\ud800"``; a Go string cannot
  hold a lone surrogate): ``found invalid Unicode character escape code``;
- an integer too long for Python's ``int()`` (4,300 digits) keeps its text and reads as
  ±2**64, out of every range vigil checks;
- a value its explicit tag cannot make (``!!int abc``): ``cannot decode !!str `abc` as a
  !!int``, yaml.v3's text, where PyYAML's constructors raise their own exceptions;
- a file that is not a regular file (a FIFO, a device, a directory) is refused before it is
  read, and one larger than :data:`MAX_FILE_BYTES` after reading one byte more.
"""

from __future__ import annotations

import codecs
import os
import re
import stat
from collections.abc import Hashable, Mapping

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode

from vigil.compose.project import TextFloat, TextInt, parse_project
from vigil.core.config import ProjectConfig
from vigil.core.names import printable
from vigil.exceptions import ConfigError, ConfigProblem
from vigil.go.strings import has_lone_surrogate

_BOOL_TAG = "tag:yaml.org,2002:bool"
_DROPPED_TAGS = {_BOOL_TAG, "tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:value"}
_MERGE_TAG = "tag:yaml.org,2002:merge"
_BAD_ESCAPE = "found invalid Unicode character escape code"  # yaml.v3's scanner

MAX_DEPTH = 100  # nested collections; a real vigil.yaml needs about 6
MAX_FILE_BYTES = 4 * 1024 * 1024  # a vigil.yaml is a few KiB
_TOO_BIG = 1 << 64  # stands for an integer int() refuses: out of every range checked
_DECIMAL = re.compile(r"[-+]?[0-9_]+")


class _VigilLoader(yaml.SafeLoader):
    """SafeLoader with yaml.v3's booleans, keys as written, no duplicate keys, number text,
    a depth limit and no lone surrogates."""

    depth = 0

    def fetch_flow_collection_start(self, token_class: type[yaml.Token]) -> None:
        """Stop at the ``[`` or ``{`` past the limit: PyYAML's scanner costs the square of
        the flow depth (up to its 1024-character key window) before the composer sees it."""
        if self.flow_level >= MAX_DEPTH:
            message = f"exceeded max depth of {MAX_DEPTH}"
            raise yaml.scanner.ScannerError(None, None, message, self.get_mark())
        super().fetch_flow_collection_start(token_class)

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                message = f"exceeded max depth of {MAX_DEPTH}"
                start = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise ComposerError(None, None, message, start)
            node: Node | None = super().compose_node(parent, index)
        finally:
            self.depth -= 1
        if isinstance(node, ScalarNode) and has_lone_surrogate(node.value):
            raise ComposerError(None, None, _BAD_ESCAPE, node.start_mark)
        return node

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

    def construct_object(self, node: Node, deep: bool = False) -> object:
        """A value that its tag cannot make (``!!int abc``, ``!!timestamp x``) is yaml.v3's
        error at its place, not the constructor's own exception."""
        try:
            return super().construct_object(node, deep)
        except (ValueError, TypeError, IndexError, AttributeError, KeyError) as error:
            if isinstance(error, yaml.YAMLError):
                raise
            short = node.tag.replace("tag:yaml.org,2002:", "!!")
            value = node.value if isinstance(node, ScalarNode) else type(node).__name__
            message = f"cannot decode !!str `{value}` as a {short}"
            raise ConstructorError(None, None, message, node.start_mark) from None

    def construct_text_int(self, node: ScalarNode) -> TextInt:
        try:
            value = self.construct_yaml_int(node)
        except ValueError:
            if not _DECIMAL.fullmatch(node.value):
                raise
            # more digits than int() converts (bases 2, 8 and 16 have no such limit)
            value = -_TOO_BIG if node.value.startswith("-") else _TOO_BIG
        return TextInt(value, node.value)

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
        loader = _VigilLoader(text)  # a str is checked for unprintable characters here
    except yaml.reader.ReaderError as error:
        raise ConfigError(_reader_problem(error, text, source)) from None
    try:
        return loader.get_single_data()
    except (ValueError, OverflowError):  # chr() of an escape past U+10FFFF, in the scanner
        at = loader.get_mark()
        where = f"{source}:{at.line + 1}:{at.column + 1}"
        raise ConfigError(ConfigProblem(where, _BAD_ESCAPE)) from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        message = printable(error.problem or error.context or "invalid YAML")  # one line
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise ConfigError(ConfigProblem(where, message)) from None
    except yaml.reader.ReaderError as error:  # bad encoding or a non-printable character
        raise ConfigError(_reader_problem(error, text, source)) from None
    finally:
        loader.dispose()


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
    content = read_config_file(path)
    return load_project_text(content, source=os.fspath(path), environ=environ)


def read_config_file(path: str | os.PathLike[str]) -> bytes:
    """A config file's bytes; ``ConfigError`` naming the path when it is not a regular file
    of at most ``MAX_FILE_BYTES``."""
    name = printable(os.fsdecode(path))
    try:
        content = read_regular_file(path, MAX_FILE_BYTES)
    except (OSError, ValueError) as error:  # ValueError: a NUL byte, a directory, a FIFO
        raise ConfigError(ConfigProblem("", f"open {name}: {_reason(error)}")) from None
    if len(content) > MAX_FILE_BYTES:
        limit = MAX_FILE_BYTES // (1024 * 1024)
        raise ConfigError(ConfigProblem("", f"read {name}: larger than {limit} MiB"))
    return content


def read_regular_file(path: str | os.PathLike[str], limit: int) -> bytes:
    """At most ``limit + 1`` bytes (so the caller sees "too long") of a regular file, opened
    without blocking on a FIFO and never read when it is a device or a directory. Raises
    OSError, or ValueError (``is a directory``, ``not a regular file``)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise ValueError("is a directory")
        if not stat.S_ISREG(mode):
            raise ValueError("not a regular file")
        chunks: list[bytes] = []
        size = 0
        while size <= limit:  # bounded: each read returns a byte or more, or ends the loop
            chunk = os.read(fd, min(limit + 1 - size, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _reason(error: Exception) -> str:
    """Go's lower-case errno text (``no such file or directory``)."""
    text = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
    return text.lower()
