"""What AWS answers by default, and its parser's wording: shared by the modules of the application layer."""

from __future__ import annotations

from stepline.jsonvalue import MAX_DEPTH

LOGGING_DEFAULT = {"level": "OFF", "includeExecutionData": False}
TRACING_DEFAULT = {"enabled": False}
ENCRYPTION_DEFAULT = {"type": "AWS_OWNED_KEY"}


TOO_DEEP = f"The JSON is nested more than {MAX_DEPTH} levels deep"


def json_problem(text: str) -> str:
    """A short description of why text is not JSON, in the words of AWS's (Jackson's) parser where it matters."""
    stripped = text.strip()
    if stripped and stripped[0].isalpha():
        token = "".join(ch for ch in stripped.split()[0] if ch.isalnum())
        return (f"Unrecognized token '{token}': was expecting (JSON String, Number, Array, Object or token 'null', "
                "'true' or 'false')")
    if stripped.startswith("{'"):
        return "Unexpected character (''' (code 39)): was expecting double-quote to start field name"
    return "Invalid execution input."
