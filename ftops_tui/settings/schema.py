"""Walking a parsed YAML mapping with errors that name the file, the key path, the bad value
and what is allowed. Generic: config.py says which keys exist and what each allows."""

from __future__ import annotations

import datetime as dt
import difflib
import math
import reprlib
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import yaml


class ConfigError(Exception):
    """A config problem; the program stops before the UI starts (exit status 2)."""

    def __init__(self, file: Path | None, key: str, message: str) -> None:
        super().__init__(file, key, message)
        self.file = file
        self.key = key
        self.message = message

    def __str__(self) -> str:
        where = "<no file>" if self.file is None else str(self.file)
        if self.key:
            return f"{where}: {self.key}: {self.message}"
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class Range:
    """The allowed values of a number, which also describes itself for error messages."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False  # True: `low` itself is not allowed
    integer: bool = False

    def __contains__(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or value <= self.high

    @property
    def text(self) -> str:
        noun = "an integer" if self.integer else "a number"
        if self.integer and self.low is not None and self.high is not None and not self.low_open:
            return f"{noun} from {self.low:g} to {self.high:g}"
        bounds = []
        if self.low is not None:
            bounds.append(f"{'>' if self.low_open else '>='} {self.low:g}")
        if self.high is not None:
            bounds.append(f"<= {self.high:g}")
        return f"{noun} {' and '.join(bounds)}".rstrip()


@dataclass(frozen=True)
class Section:
    """One mapping of the file and where it sits, so each error can name its full key path.

    Rule for a key present with no value (YAML null): a section or list means the same as
    leaving it out (its lines are commented out); a scalar is an error, as it is likely a typo.
    """

    data: Mapping[str, object]
    path: str
    file: Path | None
    env: Mapping[str, str]

    @classmethod
    def of(
        cls,
        raw: object,
        path: str,
        allowed: Sequence[str],
        file: Path | None,
        env: Mapping[str, str],
    ) -> Section:
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            what = "the top level" if not path else "this section"
            raise ConfigError(
                file,
                path,
                f"{what} must be a mapping with the keys {', '.join(allowed)}; got {got(raw)}",
            )
        for key in raw:
            if key not in allowed:
                raise ConfigError(file, join_key(path, str(key)), unknown_key(key, allowed))
        return cls({str(k): v for k, v in raw.items()}, path, file, env)

    def where(self, key: str) -> str:
        return join_key(self.path, key)

    def fail(self, key: str, message: str) -> NoReturn:
        raise ConfigError(self.file, self.where(key), message)

    def section(self, key: str, allowed: Sequence[str]) -> Section:
        return Section.of(self.data.get(key), self.where(key), allowed, self.file, self.env)

    def string(self, key: str, default: str | None, what: str = "a non-empty string") -> str:
        """The string at `key`; `default=None` makes the key required."""
        if key not in self.data:
            if default is None:
                self.fail(key, f"required key is missing; expected {what}")
            return default
        return self.str_value(key, self.data[key], what)

    def str_value(self, key: str, value: object, what: str) -> str:
        if not isinstance(value, str) or not value.strip():
            self.fail(key, f"expected {what}, got {got(value)}")
        return value

    def number(self, key: str, default: float, allowed: Range) -> float:
        if key not in self.data:
            return default
        value = self.data[key]
        # bool is an int in Python, but `true` for a timeout is a mistake, not 1. An int is a
        # fine float: nobody should have to write `3000.0`.
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(key, f"expected {allowed.text}, got {got(value)}")
        if value not in allowed:
            self.fail(key, f"{show(value)} is out of range; allowed: {allowed.text}")
        return float(value)

    def integer(self, key: str, default: int, allowed: Range) -> int:
        if key not in self.data:
            return default
        return self.int_value(key, self.data[key], allowed)

    def int_value(self, key: str, value: object, allowed: Range) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, f"expected {allowed.text}, got {got(value)}")
        if value not in allowed:
            self.fail(key, f"{value!r} is out of range; allowed: {allowed.text}")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        if key not in self.data:
            return default
        value = self.data[key]
        if not isinstance(value, bool):
            self.fail(key, f"expected true or false, got {got(value)}")
        return value

    def sequence(self, key: str, what: str) -> list[object] | None:
        """The list at `key`, or None when it is absent or null."""
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, list | tuple):
            self.fail(key, f"expected {what}, got {got(value)}")
        return list(value)


def join_key(path: str, key: str) -> str:
    if not path or key.startswith("["):
        return path + key
    return f"{path}.{key}"


def unknown_key(key: object, allowed: Sequence[str]) -> str:
    close = difflib.get_close_matches(str(key), allowed, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown key {key!r}{hint}; allowed keys: {', '.join(allowed)}"


def is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a port that is not a number
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


_REPR = reprlib.Repr()
_REPR.maxstring = 80
_REPR.maxother = 80
_REPR.maxlist = 6
_REPR.maxdict = 4


def show(value: object) -> str:
    # Bounded: a pasted blob should not turn one error line into a screenful.
    return _REPR.repr(value)


def kind_of(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, dt.date):
        return "a date"
    return type(value).__name__


def got(value: object) -> str:
    if value is None:
        return "null (no value)"
    return f"{kind_of(value)} {show(value)}"


# --- YAML -----------------------------------------------------------------------------------


class StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping.

    PyYAML silently keeps the last one, so a second `thresholds:` block further down would
    quietly replace the first.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: dict[tuple[str, str], int] = {}
        for key_node, _value in node.value:
            # `<<` merge keys may legitimately repeat and override; leave them to PyYAML.
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                continue
            ident = (key_node.tag, key_node.value)
            if ident in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key_node.value!r} (first given at line {seen[ident]})",
                    key_node.start_mark,
                )
            seen[ident] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)


def yaml_problem(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        context = ""
        if exc.context:
            # The problem is often found far from its cause, e.g. an unclosed quote found at
            # the end of the file; the context mark says where the cause began.
            start = exc.context_mark
            began = f" at line {start.line + 1}" if start and start.line != mark.line else ""
            context = f" ({exc.context}{began})"
        return (
            f"not valid YAML at line {mark.line + 1}, column {mark.column + 1}: "
            f"{exc.problem}{context}"
        )
    return f"not valid YAML: {exc}"
