"""
A small declarative schema for the TOML config.

The server and every module describe their options once, as data: the same
``Schema`` validates a config file at start-up and generates the operator's
config reference, so the two cannot drift apart. That is also why every
option must carry a one-line doc and a default that prints as TOML.

Validation is strict because a typo in a config file that is silently
ignored costs an operator an afternoon: an unknown key is an error, and
every error is one line naming the dotted key, the value found and what is
allowed, so that it reads well in a log and in a terminal.
"""

import json
import math
import re
from collections.abc import Mapping
from types import MappingProxyType


class ConfigError(Exception):
    """
    The configuration cannot be used; the message says why in one line.

    ``key`` is the dotted key at fault when there is one, so that callers
    (and tests) need not parse the message.
    """

    def __init__(self, message, key=None):
        message = " ".join(str(message).split())
        Exception.__init__(self, message)
        self.key = key


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_OPTION_KEY = re.compile(r"^[a-z][a-z0-9_]*$")


def joinKey(prefix, name):
    """Append ``name`` to a dotted key, quoted as TOML would need it."""
    part = name if _BARE_KEY.match(name) else json.dumps(name)
    return f"{prefix}.{part}" if prefix else part


def formatValue(value, limit=80):
    """
    Render a value as TOML, so that an error shows what the operator wrote.

    Long values are cut at ``limit`` characters (None: never) to keep an
    error on one readable line.
    """
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, (int, float)):
        text = repr(value)
    elif isinstance(value, (list, tuple)):
        text = "[" + ", ".join(formatValue(v, None) for v in value) + "]"
    elif isinstance(value, Mapping):
        text = (
            "{"
            + ", ".join(
                f"{joinKey('', str(k))} = {formatValue(v, None)}"
                for k, v in value.items()
            )
            + "}"
        )
    elif hasattr(value, "isoformat"):
        text = value.isoformat()
    else:
        text = repr(value)
    if limit is not None and len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMG]i?B|B)\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    "b": 1,
    "kib": 1 << 10,
    "mib": 1 << 20,
    "gib": 1 << 30,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
}


def _isNumber(raw):
    # TOML booleans are Python bools, which are ints: never let true mean 1.
    return (
        isinstance(raw, (int, float))
        and not isinstance(raw, bool)
        and math.isfinite(raw)
    )


def _integral(number):
    return int(number) if float(number).is_integer() else number


def parseDuration(raw):
    """
    Seconds from an int/float of seconds or a string like "30s", "15m".

    Returns an int when the result is whole, so that a default of "30s" and
    a configured 30 compare equal. Raises ValueError.
    """
    if _isNumber(raw) and raw >= 0:
        return _integral(raw)
    if isinstance(raw, str):
        match = _DURATION.match(raw)
        if match:
            return _integral(float(match.group(1)) * _DURATION_UNITS[match.group(2)])
    raise ValueError(raw)


def parseSize(raw):
    """Bytes from an int or a string like "256KiB", "1MiB". Raises ValueError."""
    if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0:
        return raw
    if isinstance(raw, str):
        match = _SIZE.match(raw)
        if match:
            return int(float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()])
    raise ValueError(raw)


def formatDuration(seconds):
    """The shortest exact string parseDuration reads back, for messages."""
    for unit in ("w", "d", "h", "m"):
        if seconds and seconds % _DURATION_UNITS[unit] == 0:
            return f"{int(seconds // _DURATION_UNITS[unit])}{unit}"
    return f"{seconds}s"


def formatSize(size):
    """The shortest exact string parseSize reads back, for messages."""
    for unit, name in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if size and size % unit == 0:
            return f"{size // unit}{name}"
    return f"{size}B"


def _parseBool(raw):
    if isinstance(raw, bool):
        return raw
    raise ValueError(raw)


def _parseInt(raw):
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    raise ValueError(raw)


def _parseFloat(raw):
    if _isNumber(raw):
        return float(raw)
    raise ValueError(raw)


def _parseStr(raw):
    if isinstance(raw, str):
        return raw
    raise ValueError(raw)


def _parseStrList(raw):
    if isinstance(raw, (list, tuple)) and all(isinstance(v, str) for v in raw):
        return tuple(raw)
    raise ValueError(raw)


def _parseStrTable(raw):
    if isinstance(raw, Mapping) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in raw.items()
    ):
        return MappingProxyType(dict(raw))
    raise ValueError(raw)


# kind -> (parser, phrase for "expected ...", how to print a bound)
KINDS = {
    "bool": (_parseBool, "true or false", None),
    "int": (_parseInt, "an integer", str),
    "float": (_parseFloat, "a number", str),
    "str": (_parseStr, "a string", None),
    "list-of-str": (_parseStrList, "a list of strings", None),
    "table-of-str": (_parseStrTable, "a table of strings", None),
    "duration": (parseDuration, "a duration", formatDuration),
    "size": (parseSize, "a size", formatSize),
}

_KIND_HINTS = {
    "duration": ' (seconds, or a string like "30s", "15m", "12h", "30d")',
    "size": ' (bytes, or a string like "64KiB", "1MiB", "1GiB")',
}


class Option:
    """
    One key of a table: its kind, default, bounds and one-line doc.

    ``default=None`` makes the option optional: the file may leave it out
    and the validated value is then None ("not set"). ``check``, when
    given, is called with the parsed value and returns None if it is
    acceptable, or a phrase saying what is allowed ("expected an IP
    address"), which becomes the tail of the error line.
    """

    def __init__(
        self,
        key,
        kind,
        default,
        doc,
        choices=None,
        minimum=None,
        maximum=None,
        check=None,
    ):
        if not _OPTION_KEY.match(key):
            raise ValueError(f"option key {key!r} must be lower_snake_case")
        if kind not in KINDS:
            raise ValueError(f"option {key}: unknown kind {kind!r}")
        if not doc or "\n" in doc.strip():
            raise ValueError(f"option {key}: the doc must be one line")
        if kind in ("bool", "str", "list-of-str", "table-of-str") and (
            minimum is not None or maximum is not None
        ):
            raise ValueError(f"option {key}: a {kind} option has no bounds")
        parse = KINDS[kind][0]
        self.key = key
        self.kind = kind
        self.doc = doc.strip()
        self.choices = tuple(choices) if choices is not None else None
        self.minimum = parse(minimum) if minimum is not None else None
        self.maximum = parse(maximum) if maximum is not None else None
        self.check = check
        self.rawDefault = default
        self.default = None
        if default is not None:
            try:
                self.default = self.validate(default, key)
            except ConfigError as e:
                raise ValueError(f"option {key}: bad default: {e}") from None

    @property
    def optional(self):
        return self.rawDefault is None

    @property
    def defaultText(self):
        """The default as TOML (as declared, so "30s" stays "30s"); None if unset."""
        if self.rawDefault is None:
            return None
        return formatValue(self.rawDefault, None)

    def expectation(self):
        """What this option accepts, as a phrase: 'an integer from 1 to 65535'."""
        _, phrase, formatBound = KINDS[self.kind]
        if self.choices is not None:
            listed = ", ".join(formatValue(c) for c in self.choices)
            if self.kind == "list-of-str":
                phrase = f"a list of strings, each one of {listed}"
            else:
                phrase = f"one of {listed}"
        if self.minimum is not None and self.maximum is not None:
            phrase += f" from {formatBound(self.minimum)} to {formatBound(self.maximum)}"
        elif self.minimum is not None:
            phrase += f" of at least {formatBound(self.minimum)}"
        elif self.maximum is not None:
            phrase += f" of at most {formatBound(self.maximum)}"
        return phrase + _KIND_HINTS.get(self.kind, "")

    def validate(self, raw, dottedKey):
        """The parsed value of ``raw``, or ConfigError naming ``dottedKey``."""
        parse = KINDS[self.kind][0]
        try:
            value = parse(raw)
        except ValueError:
            self._fail(raw, dottedKey, "expected " + self.expectation())
        if self.choices is not None:
            members = value if self.kind == "list-of-str" else (value,)
            if any(member not in self.choices for member in members):
                self._fail(raw, dottedKey, "expected " + self.expectation())
        if (self.minimum is not None and value < self.minimum) or (
            self.maximum is not None and value > self.maximum
        ):
            self._fail(raw, dottedKey, "expected " + self.expectation())
        if self.check is not None:
            problem = self.check(value)
            if problem:
                self._fail(raw, dottedKey, problem)
        return value

    @staticmethod
    def _fail(raw, dottedKey, problem):
        raise ConfigError(f"{dottedKey} = {formatValue(raw)}: {problem}", dottedKey)

    def __repr__(self):
        return f"Option({self.key!r}, {self.kind!r}, {self.rawDefault!r})"


class Table:
    """A fixed sub-table, such as ``[storage.mysql]`` inside ``[storage]``."""

    def __init__(self, key, schema, doc):
        if not _OPTION_KEY.match(key):
            raise ValueError(f"table key {key!r} must be lower_snake_case")
        self.key = key
        self.schema = schema
        self.doc = doc.strip()

    def validate(self, raw, dottedKey):
        return self.schema.validate(raw, dottedKey)


class Entries:
    """
    A table whose keys the operator chooses: ``[acl]``, ``[access]``.

    ``parseEntry(name, dottedKey, raw)`` returns the parsed value of one
    entry or raises ConfigError. The file's entries overlay ``default``
    entry by entry, so a file that adds an access rule keeps the built-in
    ones. The result is a read-only mapping.
    """

    def __init__(self, key, doc, parseEntry, default=None):
        self.key = key
        self.doc = doc.strip()
        self.parseEntry = parseEntry
        self.rawDefault = dict(default or {})
        self.default = self.validate({}, key)

    @property
    def defaultText(self):
        return formatValue(self.rawDefault, None)

    def validate(self, raw, dottedKey):
        if not isinstance(raw, dict):
            raise ConfigError(
                f"{dottedKey} = {formatValue(raw)}: expected a table", dottedKey
            )
        merged = {}
        for name, value in {**self.rawDefault, **raw}.items():
            merged[name] = self.parseEntry(name, joinKey(dottedKey, name), value)
        return MappingProxyType(merged)


class Section:
    """
    The validated values of one table, read by attribute: ``config.c2s.port``.

    Read-only, because one config object is shared by every service and
    module of the process; derive a changed copy with ``replace``.
    """

    __slots__ = ("_name", "_values")

    def __init__(self, values, name=""):
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_values", dict(values))

    def __getattr__(self, name):
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(
                f"config section {self._name or '(root)'} has no key {name!r}"
            ) from None

    def __setattr__(self, name, value):
        raise AttributeError("the configuration is read-only; use replace()")

    def __contains__(self, name):
        return name in self._values

    def __iter__(self):
        return iter(self._values)

    def __eq__(self, other):
        if not isinstance(other, Section):
            return NotImplemented
        return self._values == other._values

    def __hash__(self):
        return hash(tuple(self._values))

    def __repr__(self):
        # A config gets logged and printed in tracebacks; keep secrets out.
        items = ", ".join(
            f"{k}={'***' if 'password' in k and v else repr(v)}"
            for k, v in self._values.items()
        )
        return f"Section({self._name}: {items})"

    def asDict(self):
        return dict(self._values)

    def replace(self, **changes):
        unknown = set(changes) - set(self._values)
        if unknown:
            raise AttributeError(f"no such config keys: {', '.join(sorted(unknown))}")
        return Section({**self._values, **changes}, self._name)


class Schema:
    """
    The options and sub-tables of one TOML table, in documentation order.

    A module declares one for its ``[modules.NAME]`` table; the loader adds
    the ``enabled`` option every module table has.
    """

    def __init__(self, options, doc=""):
        self.options = tuple(options)
        self.doc = doc.strip()
        keys = [option.key for option in self.options]
        duplicates = {key for key in keys if keys.count(key) > 1}
        if duplicates:
            raise ValueError(f"duplicate option keys: {', '.join(sorted(duplicates))}")
        self._byKey = dict(zip(keys, self.options))

    def __iter__(self):
        return iter(self.options)

    def __getitem__(self, key):
        return self._byKey[key]

    def __contains__(self, key):
        return key in self._byKey

    def keys(self):
        return list(self._byKey)

    def extendedWith(self, *options):
        """A schema with ``options`` first, then this schema's own."""
        return Schema(options + self.options, self.doc)

    def defaults(self, name=""):
        return self.validate({}, name)

    def validate(self, raw, prefix="", alsoKnown=()):
        """
        The Section for ``raw`` (a dict from tomllib) overlaid on the defaults.

        ``alsoKnown`` names keys that the caller validates itself; they are
        skipped here but listed as known in an unknown-key error.
        """
        if not isinstance(raw, dict):
            raise ConfigError(
                f"{prefix or '(root)'} = {formatValue(raw)}: expected a table", prefix
            )
        known = self.keys() + list(alsoKnown)
        for key in raw:
            if key not in known:
                dotted = joinKey(prefix, key)
                raise ConfigError(
                    f"unknown key {dotted} (known: {', '.join(known) or 'none'})",
                    dotted,
                )
        values = {}
        for option in self.options:
            dotted = joinKey(prefix, option.key)
            if option.key in raw:
                values[option.key] = option.validate(raw[option.key], dotted)
            elif isinstance(option, Option):
                values[option.key] = option.default
            else:
                values[option.key] = option.validate({}, dotted)
        return Section(values, prefix)
