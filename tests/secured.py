"""The users of the tests' `stepline serve --credentials FILE` (tests/security, tests/console)."""

from __future__ import annotations

from pathlib import Path

ALICE = ("AKIAALICEEXAMPLE0001", "alice/Secret+Key=0123456789abcdefghijklmn")
BOB = ("ASIABOBEXAMPLE000002", "bob-secret-key-0123456789abcdefghijklmnop", "bob-session-token/with+chars==")


def write_credentials(path: Path) -> Path:
    """An AWS shared-credentials file of alice (a key) and bob (a key with a session token)."""
    path.write_text(f"[alice]\naws_access_key_id = {ALICE[0]}\naws_secret_access_key = {ALICE[1]}\n\n"
                    f"[bob]\naws_access_key_id = {BOB[0]}\naws_secret_access_key = {BOB[1]}\n"
                    f"aws_session_token = {BOB[2]}\n")
    return path
