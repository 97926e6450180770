"""Template and definition files: JSON, or YAML with CloudFormation's short-form tags (`!Ref`, `!Sub`,
`!GetAtt a.b`, ...), read by cfn-lint's decoder (AWS's own CloudFormation linter: it knows every tag and
reports a bad file with its line)."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

MAX_TEMPLATE_BYTES = 10 * 1024 * 1024  # far above CloudFormation's 1 MB (S3-hosted) template limit


class LoadError(Exception):
    """A file that cannot be read or parsed: the message says where."""


def read_text(path: Path, what: str) -> str:
    try:
        if not path.is_file():
            raise LoadError(f"{what} {path} does not exist" if not path.exists() else f"{what} {path} is not a file")
        if path.stat().st_size > MAX_TEMPLATE_BYTES:
            raise LoadError(f"{what} {path} is larger than {MAX_TEMPLATE_BYTES} bytes")
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise LoadError(f"cannot read {what} {path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise LoadError(f"{what} {path} is not UTF-8 text") from None


def load_template(path: Path) -> dict:
    """A template as plain JSON values (YAML timestamps as their text, as CloudFormation reads them)."""
    text = read_text(path, "template")
    document = _parse(text, path, "template")
    if not isinstance(document, dict):
        raise LoadError(f"template {path} is not a JSON or YAML object")
    return document


def load_document(path: Path, what: str) -> Any:
    """A definition file (JSON or YAML): its value, intrinsic tags left as written."""
    return _parse(read_text(path, what), path, what)


def _parse(text: str, path: Path, what: str) -> Any:
    if text.lstrip().startswith(("{", "[")):
        try:
            return json.loads(text)
        except ValueError as error:
            raise LoadError(f"{what} {path} is not valid JSON: {error}") from None
    from cfnlint.decode import decode_str  # type: ignore[import-untyped]  # a second's import: only for YAML

    document, matches = decode_str(text)
    if matches:
        match = matches[0]
        raise LoadError(f"{what} {path}:{match.linenumber}: {match.message}")
    return _plain(document)


def _plain(value: Any) -> Any:
    """cfn-lint's nodes as plain dicts, lists and scalars; dates and times as their ISO text."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if isinstance(value, str):
        return str(value)
    return value
