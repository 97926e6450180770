"""Intrinsic functions: each of the 18, its errors, escapes and nesting."""

from __future__ import annotations

from random import Random
from typing import Any

import pytest

from stepline.errors import DefinitionError, StatesError
from stepline.expr.intrinsics import INTRINSICS, compile_intrinsic, is_intrinsic
from stepline.expr.scope import Scope

INPUT: dict[str, Any] = {
    "s": "a,b,,c",
    "n": 3,
    "f": 1.5,
    "arr": [1, 2, 2, "x", {"k": 1}, {"k": 1}],
    "obj": {"a": 1, "b": [1, "two"]},
    "o2": {"b": 2, "c": 3},
    "json": '{"x": [1, 2]}',
    "b64": "SGVsbG8=",
    "tmpl": "Hi {} and {}",
}


def evaluate(text: str, doc: Any = INPUT, scope: Scope | None = None) -> Any:
    return compile_intrinsic(text, at="/States/S/Parameters", field="v.$")(doc, scope or Scope(rng=Random(1)))


def test_all_18_are_registered() -> None:
    assert sorted(INTRINSICS) == sorted(f"States.{name}" for name in (
        "Format", "StringToJson", "JsonToString", "Array", "ArrayPartition", "ArrayContains", "ArrayRange",
        "ArrayGetItem", "ArrayLength", "ArrayUnique", "Base64Encode", "Base64Decode", "Hash", "JsonMerge",
        "MathRandom", "MathAdd", "StringSplit", "UUID"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("States.Format('x={}, y={}', $.n, $.s)", "x=3, y=a,b,,c", id="format"),
        pytest.param("States.Format('{}', $.obj)", "{a=1, b=[1, two]}", id="format-object-java-style"),
        pytest.param("States.Format('{} {} {}', $.f, null, true)", "1.5 null true", id="format-literals"),
        pytest.param("States.Format('{}', 1e20)", "1.0E20", id="format-double-scientific"),
        pytest.param("States.Format($.tmpl, 1, 'b')", "Hi 1 and b", id="format-template-from-path"),
        pytest.param("States.Format('\\{\\} {} \\'q\\' \\\\', 1)", "{} 1 'q' \\", id="format-escapes"),
        pytest.param("States.Format('no placeholders')", "no placeholders", id="format-no-args"),
        pytest.param("States.StringToJson($.json)", {"x": [1, 2]}, id="string-to-json"),
        pytest.param("States.StringToJson('')", None, id="string-to-json-empty"),
        pytest.param("States.StringToJson('-0')", 0, id="string-to-json-negative-zero"),
        pytest.param("States.JsonToString($.obj)", '{"a":1,"b":[1,"two"]}', id="json-to-string"),
        pytest.param("States.JsonToString(1.1)", "1.1", id="json-to-string-number"),
        pytest.param("States.Array()", [], id="array-empty"),
        pytest.param("States.Array($.n, 'a', null, -1.5, States.Array())", [3, "a", None, -1.5, []], id="array"),
        pytest.param("States.ArrayPartition($.arr, 4)", [[1, 2, 2, "x"], [{"k": 1}, {"k": 1}]], id="partition"),
        pytest.param("States.ArrayPartition(States.Array(), 2)", [], id="partition-empty"),
        pytest.param("States.ArrayContains($.arr, $.obj.a)", True, id="contains"),
        pytest.param("States.ArrayContains($.arr, 'y')", False, id="contains-missing"),
        pytest.param("States.ArrayContains($.arr, $.obj2)", True, id="contains-object"),
        pytest.param("States.ArrayContains(States.Array(1), true)", False, id="contains-true-is-not-1"),
        pytest.param("States.ArrayRange(1, 9, 2)", [1, 3, 5, 7, 9], id="range-inclusive"),
        pytest.param("States.ArrayRange(0, 10, 3)", [0, 3, 6, 9], id="range"),
        pytest.param("States.ArrayRange(5, 1, -2)", [5, 3, 1], id="range-descending"),
        pytest.param("States.ArrayRange(5, 1, 1)", [], id="range-empty"),
        pytest.param("States.ArrayRange(1, 1000, 1)", list(range(1, 1001)), id="range-1000"),
        pytest.param("States.ArrayGetItem($.arr, 3)", "x", id="get-item"),
        pytest.param("States.ArrayLength($.arr)", 6, id="length"),
        pytest.param("States.ArrayUnique($.arr)", [1, 2, "x", {"k": 1}], id="unique"),
        pytest.param("States.ArrayUnique(States.Array(1, 1.0, true))", [1, True], id="unique-json-equality"),
        pytest.param("States.Base64Encode('Data to encode')", "RGF0YSB0byBlbmNvZGU=", id="base64-encode"),
        pytest.param("States.Base64Decode($.b64)", "Hello", id="base64-decode"),
        pytest.param("States.Hash('input data', 'MD5')", "812f45842bc6d66ee14572ce20db8e86", id="hash-md5"),
        pytest.param("States.Hash('input data', 'SHA-1')", "aaff4a450a104cd177d28d18d74485e8cae074b7", id="hash-sha1"),
        pytest.param("States.Hash('input data', 'SHA-256')",
                     "b4a697a057313163aee33cd8d40c66e9f0f177e00cac2de32475ffff6169c3e3", id="hash-sha256"),
        pytest.param("States.JsonMerge($.obj, $.o2, false)", {"a": 1, "b": 2, "c": 3}, id="json-merge-shallow"),
        pytest.param("States.MathAdd($.n, -1)", 2, id="math-add"),
        pytest.param("States.MathAdd(1.5, 1.51)", 4, id="math-add-rounds-half-up"),
        pytest.param("States.MathAdd(-1.5, 0)", -1, id="math-add-negative-half"),
        pytest.param("States.StringSplit($.s, ',')", ["a", "b", "c"], id="split-drops-empty"),
        pytest.param("States.StringSplit('a.b+c', '.+')", ["a", "b", "c"], id="split-any-delimiter-char"),
        pytest.param("States.StringSplit(',,,', ',')", [], id="split-only-delimiters"),
        pytest.param("States.ArrayGetItem(States.StringSplit('a-b-c', '-'), "
                     "States.MathAdd(States.ArrayLength(States.StringSplit('a-b-c', '-')), -1))", "c", id="nested"),
        pytest.param("States.ArrayLength($$.list)", 2, id="context-argument"),
        pytest.param("States.Format('{}', $v)", "var", id="variable-argument"),
        pytest.param("  States.Array( 1 ,2 )  ", [1, 2], id="whitespace"),
        pytest.param("States.Array($['a,b'], $.arr[?(@ == 'x')])", ["comma", ["x"]], id="path-with-comma-and-parens"),
    ],
)
def test_intrinsic_value(text: str, expected: Any) -> None:
    scope = Scope(context={"list": [1, 2]}, variables={"v": "var"}, rng=Random(1))
    assert evaluate(text, {**INPUT, "a,b": "comma", "obj2": {"k": 1.0}}, scope) == expected


def test_math_random_and_uuid_use_the_scope_rng() -> None:
    first = [evaluate("States.MathRandom(1, 100)", scope=Scope(rng=Random(3))) for _ in range(3)]
    second = [evaluate("States.MathRandom(1, 100)", scope=Scope(rng=Random(3))) for _ in range(3)]
    assert first == second and all(1 <= n < 100 for n in first)
    assert evaluate("States.MathRandom(1, 100, 42)") == evaluate("States.MathRandom(1, 100, 42)")
    uuid_a = evaluate("States.UUID()", scope=Scope(rng=Random(5)))
    assert uuid_a == evaluate("States.UUID()", scope=Scope(rng=Random(5)))
    assert len(uuid_a) == 36 and uuid_a[14] == "4"


@pytest.mark.parametrize(
    ("text", "doc"),
    [
        pytest.param("States.StringToJson($.s)", INPUT, id="string-to-json-invalid"),
        pytest.param("States.StringToJson($.n)", INPUT, id="string-to-json-not-a-string"),
        pytest.param("States.Format($.tmpl, 1)", INPUT, id="format-too-few-arguments"),
        pytest.param("States.Format($.n)", INPUT, id="format-template-not-a-string"),
        pytest.param("States.ArrayPartition($.arr, 0)", INPUT, id="partition-zero"),
        pytest.param("States.ArrayPartition($.obj, 1)", INPUT, id="partition-not-an-array"),
        pytest.param("States.ArrayContains($.s, 1)", INPUT, id="contains-not-an-array"),
        pytest.param("States.ArrayRange(1, 1001, 1)", INPUT, id="range-over-1000"),
        pytest.param("States.ArrayRange(1, 5, 0)", INPUT, id="range-zero-step"),
        pytest.param("States.ArrayRange($.s, 5, 1)", INPUT, id="range-not-a-number"),
        pytest.param("States.ArrayGetItem($.arr, 6)", INPUT, id="get-item-out-of-range"),
        pytest.param("States.ArrayGetItem($.arr, -1)", INPUT, id="get-item-negative"),
        pytest.param("States.ArrayGetItem($.arr, 1.5)", INPUT, id="get-item-not-an-integer"),
        pytest.param("States.ArrayLength($.obj)", INPUT, id="length-not-an-array"),
        pytest.param("States.ArrayUnique($.n)", INPUT, id="unique-not-an-array"),
        pytest.param("States.Base64Encode($.big)", {"big": "x" * 10_001}, id="base64-encode-too-long"),
        pytest.param("States.Base64Decode($.s)", INPUT, id="base64-decode-invalid"),
        pytest.param("States.Base64Decode($.big)", {"big": "QUFB" * 2501}, id="base64-decode-too-long"),
        pytest.param("States.Hash($.s, $.algorithm)", {**INPUT, "algorithm": "SHA-3"}, id="hash-unknown-algorithm"),
        pytest.param("States.Hash($.big, 'MD5')", {"big": "x" * 10_001}, id="hash-too-long"),
        pytest.param("States.Hash($.n, 'MD5')", INPUT, id="hash-not-a-string"),
        pytest.param("States.JsonMerge($.obj, $.o2, true)", INPUT, id="json-merge-deep"),
        pytest.param("States.JsonMerge($.obj, $.arr, false)", INPUT, id="json-merge-not-an-object"),
        pytest.param("States.MathAdd($.s, 1)", INPUT, id="math-add-not-a-number"),
        pytest.param("States.MathAdd(2147483648, 1)", INPUT, id="math-add-out-of-int-range"),
        pytest.param("States.MathRandom(5, 5)", INPUT, id="math-random-empty-range"),
        pytest.param("States.StringSplit($.n, ',')", INPUT, id="split-not-a-string"),
    ],
)
def test_intrinsic_failure(text: str, doc: Any) -> None:
    with pytest.raises(StatesError) as raised:
        evaluate(text, doc)
    assert raised.value.error == "States.IntrinsicFailure"
    assert raised.value.cause.startswith("The function 'States.")


def test_missing_path_argument_is_a_runtime_error() -> None:
    with pytest.raises(StatesError) as raised:
        evaluate("States.Format('{}', $.nope)", {"a": 1})
    assert raised.value.error == "States.Runtime"
    assert raised.value.cause == "The JsonPath argument for the field '$.nope' could not be found in the input '{\"a\":1}'"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("States.Format('He said, \\\"Hi\\\"')", id="illegal-escape-double-quote"),
        pytest.param("States.Format('a\\nb')", id="illegal-escape-n"),
        pytest.param("States.Format('unterminated)", id="unterminated-string"),
        pytest.param("States.format('x')", id="unknown-function-case"),
        pytest.param("States.Nope()", id="unknown-function"),
        pytest.param("States.Array(1,)", id="trailing-comma"),
        pytest.param("States.Array(1) extra", id="trailing-text"),
        pytest.param("States.Array(foo)", id="bare-word"),
        pytest.param("States.UUID(1)", id="uuid-arity"),
        pytest.param("States.MathAdd(1)", id="math-add-arity"),
        pytest.param("States.MathRandom(1, 2, 3, 4)", id="math-random-arity"),
        pytest.param("States.ArrayLength('text')", id="literal-type"),
        pytest.param("States.JsonMerge($.a, $.b, 'false')", id="literal-boolean-type"),
        pytest.param("States.Format('{} {}', 1)", id="format-literal-count"),
        pytest.param("States.Format(1)", id="format-literal-template-type"),
        pytest.param("States.Format()", id="format-no-template"),
        pytest.param("States.Array($.a[)", id="bad-path-argument"),
        pytest.param("States.Array(" * 11 + ")" * 11, id="nested-too-deep"),
    ],
)
def test_malformed_intrinsic_is_a_definition_error(text: str) -> None:
    with pytest.raises(DefinitionError) as raised:
        compile_intrinsic(text, at="/States/S/Parameters", field="parsed.$")
    diagnostic = raised.value.diagnostics[0]
    assert diagnostic.code == "SCHEMA_VALIDATION_FAILED"
    assert diagnostic.location == "/States/S/Parameters"
    assert diagnostic.message == (
        "The value for the field 'parsed.$' must be a valid JSONPath or a valid intrinsic function call")


def test_ten_levels_of_nesting_are_allowed() -> None:
    expected: Any = []
    for _ in range(9):
        expected = [expected]
    assert evaluate("States.Array(" * 10 + ")" * 10) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("States.Format('x')", True, id="call"),
        pytest.param("  States.UUID()", True, id="leading-space"),
        pytest.param("States.nope(", True, id="looks-like-a-call"),
        pytest.param("$.States.Format", False, id="path"),
        pytest.param("States", False, id="word"),
        pytest.param("$", False, id="root"),
    ],
)
def test_is_intrinsic(text: str, expected: bool) -> None:
    assert is_intrinsic(text) is expected
