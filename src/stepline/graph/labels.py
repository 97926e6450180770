"""The words drawn on a graph: a Choice rule in short, a Task's resource, and text fitted to a width.

Pure functions of the definition's JSON; the layout measures with `text_width`, and the SVG draws the same
strings, so the console and `stepline graph` show the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping

from stepline.jsonvalue import JSON

CHAR_WIDTH = 8.0  # average advance of the bold 13px sans-serif of state names
SMALL_CHAR_WIDTH = 6.3  # 11px labels

_OPERATORS = {
    "Equals": "==", "GreaterThan": ">", "GreaterThanEquals": ">=", "LessThan": "<", "LessThanEquals": "<=",
}
_KINDS = ("String", "Numeric", "Boolean", "Timestamp")
_TESTS = {"IsNull": "null", "IsPresent": "present", "IsNumeric": "numeric", "IsString": "a string",
          "IsBoolean": "a boolean", "IsTimestamp": "a timestamp"}


def text_width(text: str, char_width: float = CHAR_WIDTH) -> float:
    """An estimate of the drawn width of text (no font metrics in a pure layout)."""
    wide = sum(1 for ch in text if ord(ch) > 0x2E80)  # CJK and emoji take about two advances
    return (len(text) + wide) * char_width


def fit(text: str, width: float, char_width: float = CHAR_WIDTH) -> str:
    """text, shortened in the middle with an ellipsis so that it fits in width: both ends stay, and names that
    differ only at their end (`…CustomerA`, `…CustomerB`) still look different."""
    if text_width(text, char_width) <= width:
        return text
    room = width - char_width  # the ellipsis
    head_room = room * 0.45
    head = _take(text, head_room, char_width)
    tail = _take(text[len(head):][::-1], room - text_width(head, char_width), char_width)[::-1]
    return head.rstrip() + "…" + tail.lstrip()


def _take(text: str, width: float, char_width: float) -> str:
    """The longest start of text that fits in width."""
    used = 0.0
    for index, char in enumerate(text):
        used += text_width(char, char_width)
        if used > width:
            return text[:index]
    return text


def wrap(text: str, width: float, max_lines: int | None = None, char_width: float = CHAR_WIDTH) -> tuple[str, ...]:
    """text on lines of at most width, broken after a space or punctuation or between camelCase words where it
    can be. Beyond max_lines the last line keeps the end of the text after an ellipsis. Without max_lines the
    lines joined are text itself, so different texts always wrap differently."""
    lines: list[str] = []
    rest = text
    while rest and (max_lines is None or len(lines) < max_lines - 1) and text_width(rest, char_width) > width:
        line = _take(rest, width, char_width) or rest[0]
        cut = _break_at(rest, len(line))
        lines.append(rest[:cut])
        rest = rest[cut:]
    if rest or not lines:
        lines.append(rest if text_width(rest, char_width) <= width else
                     "…" + _take(rest[::-1], width - char_width, char_width)[::-1])
    return tuple(lines)


def _break_at(text: str, limit: int) -> int:
    """Where to end a line of text that can hold limit characters: after the last break in its second half."""
    if limit >= len(text):
        return len(text)
    for cut in range(limit, max(1, limit // 2) - 1, -1):
        before, after = text[cut - 1], text[cut]
        if before in " _-./:" or (before.islower() and after.isupper()) or (before.isalpha() and after.isdigit()):
            return cut
    return limit


def _value(rule: Mapping[str, JSON], key: str) -> str:
    value = rule[key]
    if key.endswith("Path"):
        return str(value)
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def choice_rule(rule: JSON) -> str:
    """A Choice rule in a few words: `$.total > 0 and $.items[0] is present`."""
    if not isinstance(rule, dict):
        return "?"
    if isinstance(rule.get("Condition"), str):  # JSONata
        condition: str = rule["Condition"].strip()
        if condition.startswith("{%") and condition.endswith("%}"):
            condition = condition[2:-2].strip()
        return condition
    for joiner in ("And", "Or"):
        if isinstance(rule.get(joiner), list):
            parts = [choice_rule(part) for part in rule[joiner]]
            return f" {joiner.lower()} ".join(f"({p})" if (" and " in p or " or " in p) else p for p in parts)
    if "Not" in rule:
        return f"not ({choice_rule(rule['Not'])})"
    variable = str(rule.get("Variable", "?"))
    for key in rule:
        if key in _TESTS:
            negated = rule[key] is False
            return f"{variable} is {'not ' if negated else ''}{_TESTS[key]}"
        if key == "StringMatches" or key == "StringMatchesPath":
            return f"{variable} matches {_value(rule, key)}"
        for kind in _KINDS:
            if key.startswith(kind):
                operator = key[len(kind):].removesuffix("Path")
                if operator in _OPERATORS:
                    return f"{variable} {_OPERATORS[operator]} {_value(rule, key)}"
    return variable


def resource(state: Mapping[str, JSON]) -> str:
    """A Task's resource in short: `λ charge_card`, `dynamodb:scan`, `sqs:sendMessage`, `activity Approve`."""
    arn = state.get("Resource")
    if not isinstance(arn, str):
        return ""
    if arn.startswith("{%"):
        return "JSONata resource"
    parts = arn.split(":")
    if len(parts) >= 7 and parts[2] == "lambda" and parts[5] == "function":
        return f"λ {parts[6]}"
    if len(parts) >= 7 and parts[2] == "states" and parts[5] == "activity":
        return f"activity {parts[6]}"
    if arn.startswith("arn:aws:states:::"):
        service = arn[len("arn:aws:states:::"):]
        service = service.removeprefix("aws-sdk:")
        base = service.split(".")[0]
        if base == "lambda:invoke":
            arguments = state.get("Parameters") or state.get("Arguments") or {}
            name = arguments.get("FunctionName") if isinstance(arguments, dict) else None
            if isinstance(name, str):
                return f"λ {name.split(':')[-1] if name.startswith('arn:') else name}"
        suffix = service[len(base):]
        return base + (" (" + suffix[1:] + ")" if suffix else "")
    return parts[-1] if parts else arn
