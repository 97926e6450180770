"""The users a server lets in: an AWS shared-credentials file, one section per user.

    [alice]
    aws_access_key_id = AKIAEXAMPLEALICE
    aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
    aws_session_token = ...          # optional: requests with this key must then carry this token

    users = load_credentials("credentials.ini")    # {"AKIAEXAMPLEALICE": User(name="alice", ...)}
"""

from __future__ import annotations

import configparser
from dataclasses import dataclass
from pathlib import Path


class CredentialsError(Exception):
    """A credentials file that cannot be used; the message says which and why, in one line."""


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    """One section of the credentials file."""

    name: str
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None


def load_credentials(path: str | Path) -> dict[str, User]:
    """The users of a credentials file by access key id; CredentialsError if it is unreadable, malformed, empty,
    a section lacks a key, or two sections share an access key id."""
    parser = configparser.ConfigParser(interpolation=None, default_section="\0none")
    try:
        with open(path, encoding="utf-8") as file:
            parser.read_file(file)
    except (OSError, UnicodeDecodeError, configparser.Error) as error:
        raise CredentialsError(f"cannot read the credentials file {path}: {_first_line(error)}") from None
    users: dict[str, User] = {}
    for name in parser.sections():
        section = parser[name]
        missing = [key for key in ("aws_access_key_id", "aws_secret_access_key") if not section.get(key, "").strip()]
        if missing:
            raise CredentialsError(f"the credentials file {path}: section [{name}] has no {' nor '.join(missing)}")
        user = User(name=name, access_key_id=section["aws_access_key_id"].strip(),
                    secret_access_key=section["aws_secret_access_key"].strip(),
                    session_token=section.get("aws_session_token", "").strip() or None)
        if user.access_key_id in users:
            raise CredentialsError(f"the credentials file {path}: sections [{users[user.access_key_id].name}] and "
                                   f"[{name}] have the same aws_access_key_id")
        users[user.access_key_id] = user
    if not users:
        raise CredentialsError(f"the credentials file {path} has no [user] section with aws_access_key_id and "
                               "aws_secret_access_key")
    return users


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
