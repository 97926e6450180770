"""`--config FILE`: a TOML file holding a command's options, read from the command's own argparse parser.

Each key is an option's name without its dashes (`retention-days` or `retention_days`); the value is what the option
takes: text or a number (checked as the option checks it), true or false for a switch, a list for a repeatable
option. So every option, including those added later, can be set in the file without more code here. An unknown
key or a bad value is refused in one line naming it.

Precedence: flags > environment > file > defaults. A key is not applied when its option was given on the command
line, nor when the environment variable that the option's help names ("(or STEPLINE_DB)") is set.
"""

from __future__ import annotations

import argparse
import os
import re
import tomllib
from collections.abc import Sequence
from typing import Any

NOT_SETTABLE = {"config", "help", "version"}
_VARIABLE = re.compile(r"\bor ([A-Z][A-Z0-9]*_[A-Z0-9_]+)")  # "(or STEPLINE_DB)", "or WAIT_TIME_SCALE"


class ConfigError(Exception):
    """The configuration file cannot be used: said in one line, naming the file and the key."""


def apply_config(parser: argparse.ArgumentParser, args: argparse.Namespace, arguments: Sequence[str],
                 path: str) -> None:
    """Set in `args` the options of the file at `path` that neither `arguments` (the command's own, as given on
    the command line) nor the environment set."""
    document = _read(path)
    options = {option[2:]: action for action in parser._actions for option in action.option_strings
               if option.startswith("--")}
    given = _given(parser, arguments)
    for key, value in document.items():
        name = key.replace("_", "-")
        action = options.get(name)
        if action is None or name in NOT_SETTABLE:
            raise ConfigError(f"{path}: unknown key {key!r}: not an option of `{parser.prog}` (see {parser.prog} --help)")
        variable = environment_variable(action)
        if action.dest in given or (variable is not None and os.environ.get(variable)):
            continue
        setattr(args, action.dest, _value(action, key, value, path))


def environment_variable(action: argparse.Action) -> str | None:
    """The environment variable that stands for an option, as its help names it."""
    found = _VARIABLE.search(action.help or "")
    return found.group(1) if found else None


def _read(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as file:
            return tomllib.load(file)
    except OSError as error:
        raise ConfigError(f"cannot read the configuration file {path}: {error.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"the configuration file {path} is not TOML: {error}") from None


def _given(parser: argparse.ArgumentParser, arguments: Sequence[str]) -> set[str]:
    """The destinations of the options given on the command line: parsed again with every default suppressed."""
    defaults = [(action, action.default) for action in parser._actions]
    try:
        for action, _ in defaults:
            action.default = argparse.SUPPRESS
        given, _ = parser.parse_known_args(list(arguments), argparse.Namespace())
    finally:
        for action, default in defaults:
            action.default = default
    return set(vars(given))


def _value(action: argparse.Action, key: str, value: Any, path: str) -> Any:
    if action.nargs == 0:  # a switch: --assume-role
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: {key} must be true or false, not {value!r}")
        return value if action.const is True else not value
    if isinstance(action, (argparse._AppendAction, argparse._ExtendAction)):  # repeatable
        items = value if isinstance(value, list) else [value]
        return [_item(action, key, item, path) for item in items]
    return _item(action, key, value, path)


def _item(action: argparse.Action, key: str, value: Any, path: str) -> Any:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        expected = "a list" if isinstance(action, (argparse._AppendAction, argparse._ExtendAction)) else "a value"
        raise ConfigError(f"{path}: {key} must be text or a number, or {expected} of them, not {value!r}")
    text = str(value)
    try:
        converted = action.type(text) if callable(action.type) else text
    except (argparse.ArgumentTypeError, ValueError, TypeError) as error:
        raise ConfigError(f"{path}: {key}: {error}") from None
    if action.choices is not None and converted not in action.choices:
        raise ConfigError(f"{path}: {key} must be one of {', '.join(map(str, action.choices))}, not {text!r}")
    return converted
