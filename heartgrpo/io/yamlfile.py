"""YAML files read strictly: UTF-8 text, no key written twice in one mapping, errors naming file:line.

PyYAML keeps the last of two equal keys in a mapping and drops the first without a word;
:func:`parse_yaml` refuses the second instead, naming its line and the first one's. YAML that does
not parse and text that is not UTF-8 (:func:`read_text`) are refused the same way, with a
:class:`YamlError` (a :class:`heartgrpo.io.jsonl.DataError`, so a ``ValueError``) whose ``where``
is ``file:line``. A UTF-8 byte-order mark and CRLF line endings read as plain text.

Example:
    >>> parse_yaml("a: 1\\nb: [2, 3]\\n", "x.yaml")
    {'a': 1, 'b': [2, 3]}
    >>> try:
    ...     parse_yaml("a: 1\\nb: 2\\na: 3\\n", "x.yaml")
    ... except YamlError as exc:
    ...     print(exc)
    x.yaml:3: key 'a' repeated (first at line 1)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from heartgrpo.io.jsonl import DataError

__all__ = ["YamlError", "parse_yaml", "read_text", "read_yaml"]

_MERGE = "tag:yaml.org,2002:merge"


class YamlError(DataError):
    """A YAML file that cannot be read: ``where`` is ``file:line`` (or the file), ``problem`` what is wrong."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where, self.problem = where, problem


class _RepeatedKey(yaml.constructor.ConstructorError):
    pass


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key written twice in one mapping (``<<`` merges allowed)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE:
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                seen = key in first
            except TypeError:  # an unhashable key: SafeLoader refuses it below
                continue
            if seen:
                raise _RepeatedKey(None, None, f"key {key!r} repeated (first at line {first[key]})", key_node.start_mark)
            first[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str, source: str) -> Any:
    """The document in ``text`` (``source`` names it in errors); raises :class:`YamlError`."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except _RepeatedKey as err:
        raise YamlError(f"{source}:{err.problem_mark.line + 1}", str(err.problem)) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        raise YamlError(where, f"not valid YAML: {getattr(err, 'problem', None) or err}") from None


def read_text(path: str | os.PathLike[str]) -> str:
    """The UTF-8 text of ``path``; bytes that are not UTF-8 raise :class:`YamlError` naming the line."""
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise YamlError(f"{path}:{line}", f"not UTF-8 text ({err.reason} at byte {err.start})") from None


def read_yaml(path: str | os.PathLike[str]) -> Any:
    """The YAML document of the file ``path`` (see the module docstring)."""
    return parse_yaml(read_text(path), str(path))
