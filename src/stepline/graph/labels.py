"""The words drawn on a graph: a Choice rule in short, a Task's resource, and text fitted to a width.

Pure functions of the definition's JSON; the layout measures with `text_width`, and the SVG draws the same
strings, so the console and `stepline graph` show the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from stepline.jsonvalue import JSON


@dataclass(frozen=True, slots=True)
class Font:
    """A font the drawing uses, measured: the advance of each printable ASCII character in thousandths of an em,
    from DejaVu Sans (the standalone SVG's font and among the widest sans-serif ones, so text measured with it
    fits in the console's system font too). Other characters count as an average one, CJK and emoji as an em."""

    size: float  # pixels
    advances: tuple[int, ...]  # chr(32) .. chr(126)

    def width(self, text: str) -> float:
        """The drawn width of text in pixels (no font files read in a pure layout)."""
        total = 0
        for char in text:
            code = ord(char)
            if 32 <= code < 127:
                total += self.advances[code - 32]
            else:
                total += 1000 if char == "…" or code > 0x2E80 else 660
        return total * self.size / 1000


NAME = Font(13.0, (  # DejaVu Sans Bold: state names
    348, 456, 521, 838, 696, 1002, 872, 306, 457, 457, 523, 838, 380, 415, 380, 365, 696, 696, 696, 696, 696, 696,
    696, 696, 696, 696, 400, 400, 838, 838, 838, 580, 1000, 774, 762, 734, 830, 683, 683, 821, 837, 372, 372, 775,
    637, 995, 837, 850, 733, 850, 770, 720, 682, 812, 774, 1103, 771, 724, 725, 457, 365, 457, 838, 500, 500, 675,
    716, 593, 716, 678, 435, 716, 712, 343, 343, 665, 343, 1042, 712, 687, 716, 716, 493, 595, 478, 712, 652, 924,
    645, 652, 582, 712, 365, 712, 838))
SMALL = Font(11.0, (  # DejaVu Sans: a state's second line, edge labels, group titles
    318, 401, 460, 838, 636, 950, 780, 275, 390, 390, 500, 838, 318, 361, 318, 337, 636, 636, 636, 636, 636, 636,
    636, 636, 636, 636, 337, 337, 838, 838, 838, 531, 1000, 684, 686, 698, 770, 632, 575, 775, 752, 295, 295, 656,
    557, 863, 748, 787, 603, 787, 695, 635, 611, 732, 684, 989, 685, 611, 685, 390, 337, 390, 838, 500, 500, 613,
    635, 550, 635, 615, 352, 635, 634, 278, 278, 579, 278, 974, 634, 612, 635, 635, 411, 521, 392, 634, 592, 818,
    592, 592, 525, 636, 337, 636, 838))

_OPERATORS = {
    "Equals": "==", "GreaterThan": ">", "GreaterThanEquals": ">=", "LessThan": "<", "LessThanEquals": "<=",
}
_KINDS = ("String", "Numeric", "Boolean", "Timestamp")
_TESTS = {"IsNull": "null", "IsPresent": "present", "IsNumeric": "numeric", "IsString": "a string",
          "IsBoolean": "a boolean", "IsTimestamp": "a timestamp"}


def text_width(text: str, font: Font = NAME) -> float:
    """The drawn width of text in font."""
    return font.width(text)


def fit(text: str, width: float, font: Font = NAME) -> str:
    """text, shortened in the middle with an ellipsis so that it fits in width: both ends stay, and names that
    differ only at their end (`…CustomerA`, `…CustomerB`) still look different."""
    if font.width(text) <= width:
        return text
    room = width - font.width("…")
    head = _take(text, room * 0.45, font)
    tail = _take(text[len(head):][::-1], room - font.width(head), font)[::-1]
    return head.rstrip() + "…" + tail.lstrip()


def _take(text: str, width: float, font: Font) -> str:
    """The longest start of text that fits in width."""
    used = 0.0
    for index, char in enumerate(text):
        used += font.width(char)
        if used > width:
            return text[:index]
    return text


def wrap(text: str, width: float, max_lines: int | None = None, font: Font = NAME) -> tuple[str, ...]:
    """text on lines of at most width, broken after a space or punctuation or between camelCase words where it
    can be. Beyond max_lines the last line keeps the end of the text after an ellipsis. Without max_lines the
    lines joined are text itself, so different texts always wrap differently."""
    lines: list[str] = []
    rest = text
    while rest and (max_lines is None or len(lines) < max_lines - 1) and font.width(rest) > width:
        line = _take(rest, width, font) or rest[0]
        cut = _break_at(rest, len(line))
        lines.append(rest[:cut])
        rest = rest[cut:]
    if rest or not lines:
        lines.append(rest if font.width(rest) <= width else
                     "…" + _take(rest[::-1], width - font.width("…"), font)[::-1])
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
