"""JSONPath forms, AWS's causes for paths that match nothing, and ResultPath."""

from __future__ import annotations

from typing import Any

import pytest

from stepline.errors import DefinitionError, StatesError
from stepline.expr.paths import compile_path, compile_result_path
from stepline.expr.scope import Scope

DOC: dict[str, Any] = {
    "a": {"b": {"c": 1}},
    "items": [{"x": 1, "n": "one", "tags": ["t"]}, {"x": 5, "n": "five"}, {"y": 2}],
    "nums": [1, 2, 3, 4],
    "a b": "spaced",
    "nil": None,
    "Test\\\"\"Name\"": "escaped",
}
SCOPE = Scope(context={"Execution": {"Id": "arn:exec", "Input": {"k": "v"}}}, variables={"var": {"list": [10, 20]}, "n": 3})


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param("$", DOC, id="root"),
        pytest.param("$.a.b.c", 1, id="dot-names"),
        pytest.param("$['a']['b']", {"c": 1}, id="bracket-names"),
        pytest.param("$['a b']", "spaced", id="bracket-name-with-space"),
        pytest.param('$["a b"]', "spaced", id="double-quoted-name"),
        pytest.param("$['Test\\\"\"Name\"']", "escaped", id="backslash-kept-inside-quotes"),
        pytest.param("$.nil", None, id="null-value-is-found"),
        pytest.param("$.nums[0]", 1, id="index"),
        pytest.param("$.nums[-1]", 4, id="negative-index"),
        pytest.param("$.items[1].n", "five", id="index-then-name"),
        pytest.param("$.nums[1:3]", [2, 3], id="slice"),
        pytest.param("$.nums[:2]", [1, 2], id="slice-to"),
        pytest.param("$.nums[2:]", [3, 4], id="slice-from"),
        pytest.param("$.nums[-2:]", [3, 4], id="slice-negative"),
        pytest.param("$.nums[0,2]", [1, 3], id="index-list"),
        pytest.param("$.nums[0,9]", [1], id="index-list-out-of-range-skipped"),
        pytest.param("$.items[*].x", [1, 5], id="wildcard-skips-missing"),
        pytest.param("$.a.*", [{"c": 1}], id="dot-wildcard-object"),
        pytest.param("$..c", [1], id="deep-scan"),
        pytest.param("$..x", [1, 5], id="deep-scan-in-arrays"),
        pytest.param("$.items[?(@.x > 1)].n", ["five"], id="filter-compare"),
        pytest.param("$.items[?(@.x)].n", ["one", "five"], id="filter-exists"),
        pytest.param("$.items[?(!@.x)]", [{"y": 2}], id="filter-not-exists"),
        pytest.param("$.items[?(@.n == 'one')].x", [1], id="filter-equals-string"),
        pytest.param("$.items[?(@.x >= 1 && @.x < 5)].n", ["one"], id="filter-and"),
        pytest.param("$.items[?(@.x == 5 || @.y == 2)]", [{"x": 5, "n": "five"}, {"y": 2}], id="filter-or"),
        pytest.param("$.items[?(@.n =~ /f.*/)].x", [5], id="filter-regex-full-match"),
        pytest.param("$.items[?(@.n in ['one', 'two'])].x", [1], id="filter-in"),
        pytest.param("$.items[?(@.tags size 1)].x", [1], id="filter-size"),
        pytest.param("$.items[?(@.x == $.nums[0])].n", ["one"], id="filter-root-reference"),
        pytest.param("$.items[?(@.n==five)].x", [5], id="filter-unquoted-word-is-a-string"),
        pytest.param("$.items[?(@.n != one)].x", [5], id="filter-unquoted-word-not-equal"),
        pytest.param("$..items[?(@.n==one_more)]", [], id="filter-unquoted-word-with-underscore"),
        pytest.param("$.items[?(@.n == in)]", [], id="filter-operator-word-as-value"),
        pytest.param("$.a.b.c ", 1, id="trailing-blank-ignored"),
        pytest.param("$$.Execution.Id ", "arn:exec", id="context-trailing-blank-ignored"),
        pytest.param("$.nums.length()", 4, id="length-function"),
        pytest.param("$.missing[*]", [], id="wildcard-on-missing"),
        pytest.param("$.missing.deeper[1:5].x", [], id="slice-on-missing"),
        pytest.param("$[*]", list(DOC.values()), id="root-wildcard"),
        pytest.param("$['a','a b']", {"a": {"b": {"c": 1}}, "a b": "spaced"}, id="name-list-leaf-merges"),
        pytest.param("$$.Execution.Id", "arn:exec", id="context"),
        pytest.param("$$", SCOPE.context, id="context-root"),
        pytest.param("$var.list[1]", 20, id="variable-path"),
        pytest.param("$n", 3, id="variable"),
    ],
)
def test_path_selects(path: str, expected: Any) -> None:
    assert compile_path(path, at="/States/S/InputPath", field="InputPath")(DOC, SCOPE) == expected


@pytest.mark.parametrize(
    ("path", "field", "cause"),
    [
        pytest.param("$.nope", "InputPath", "Invalid path '$.nope' : No results for path: $['nope']", id="leaf"),
        pytest.param("$.no.such.path", "OutputPath", "Invalid path '$.no.such.path' : Missing property in path $['no']",
                     id="intermediate"),
        pytest.param("$.a.b.x.y", "OutputPath", "Invalid path '$.a.b.x.y' : Missing property in path $['a']['b']['x']",
                     id="deep-intermediate"),
        pytest.param("$.nums[9]", "InputPath", "Invalid path '$.nums[9]' : No results for path: $['nums'][9]",
                     id="index-out-of-range"),
        pytest.param("$.x", "TimeoutSecondsPath", "Invalid path '$.x' : No results for path: $['x']", id="timeout-path"),
        pytest.param("$.x", "SecondsPath", "The SecondsPath parameter does not reference an input value: $.x",
                     id="seconds-path"),
        pytest.param("$.x", "value.$", "The JSONPath '$.x' specified for the field 'value.$' could not be found in the "
                     "input '{\"k\":1}'", id="template-key"),
        pytest.param("$$.Execution.Nope", "value.$", "The JSONPath '$$.Execution.Nope' specified for the field "
                     "'value.$' could not be found in the input '{\"k\":1}'", id="template-context"),
        pytest.param("$.x", "ErrorPath", "The JSONPath '$.x' specified for the field 'ErrorPath' could not be found "
                     "in the input '{\"k\":1}'", id="error-path"),
        pytest.param("$.k.z", "InputPath", "Invalid path '$.k.z' : Expected to find an object with property ['z'] in "
                     "path $['k'] but found 'java.lang.Integer'. This is not a json object according to the "
                     "JsonProvider: 'com.jayway.jsonpath.spi.json.JsonSmartJsonProvider'.", id="name-on-number"),
    ],
)
def test_path_matches_nothing(path: str, field: str, cause: str) -> None:
    doc = {"k": 1} if field in ("value.$", "ErrorPath") or path.startswith("$.k") else DOC
    with pytest.raises(StatesError) as raised:
        compile_path(path, at="/States/S/X", field=field)(doc, SCOPE)
    assert (raised.value.error, raised.value.cause) == ("States.Runtime", cause)


def test_undefined_variable_fails_at_runtime() -> None:
    with pytest.raises(StatesError):
        compile_path("$undefined.a", at="/x", field="value.$")(DOC, SCOPE)


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("", id="empty"), pytest.param("a.b", id="no-dollar"), pytest.param("$.", id="trailing-dot"),
        pytest.param("$.a[", id="open-bracket"), pytest.param("$.a[x]", id="bare-word-index"),
        pytest.param("$.a['b", id="unterminated-quote"), pytest.param("$.a[?(@.x >)]", id="bad-filter"),
        pytest.param("$.a.nosuch()", id="unknown-function"), pytest.param("$ .a", id="space"),
        pytest.param("$.a[1:2:3]", id="slice-step"),
    ],
)
def test_bad_path_is_a_definition_error(path: str) -> None:
    with pytest.raises(DefinitionError) as raised:
        compile_path(path, at="/States/S/InputPath", field="InputPath")
    diagnostic = raised.value.diagnostics[0]
    assert (diagnostic.code, diagnostic.location) == ("SCHEMA_VALIDATION_FAILED", "/States/S/InputPath")
    assert diagnostic.message == "The value for the field 'InputPath' must be a valid JSONPath"


@pytest.mark.parametrize(
    ("path", "state_input", "result", "expected"),
    [
        pytest.param(None, {"a": 1}, 2, {"a": 1}, id="null-discards"),
        pytest.param("$", {"a": 1}, 2, 2, id="root-replaces"),
        pytest.param("$.r", {"a": 1}, 2, {"a": 1, "r": 2}, id="adds-field"),
        pytest.param("$.a", {"a": 1}, 2, {"a": 2}, id="replaces-field"),
        pytest.param("$.x.y.z", {"a": 1}, 2, {"a": 1, "x": {"y": {"z": 2}}}, id="creates-objects"),
        pytest.param("$.a.b", {"a": {"c": 3}}, 2, {"a": {"c": 3, "b": 2}}, id="merges-into-existing"),
        pytest.param("$['x y']", {}, 2, {"x y": 2}, id="bracket"),
        pytest.param("$.l[1]", {"l": [0, 0]}, 2, {"l": [0, 2]}, id="array-element"),
    ],
)
def test_result_path(path: str | None, state_input: Any, result: Any, expected: Any) -> None:
    before = repr(state_input)
    assert compile_result_path(path, at="/States/S/ResultPath")(state_input, result) == expected
    assert repr(state_input) == before  # the input is never mutated


def test_result_path_shares_untouched_branches() -> None:
    untouched = {"big": list(range(10))}
    out = compile_result_path("$.r", at="/x")({"keep": untouched}, 1)
    assert out["keep"] is untouched


@pytest.mark.parametrize(
    ("path", "state_input"),
    [
        pytest.param("$.r", "text", id="string-input"),
        pytest.param("$.r", [1], id="array-input"),
        pytest.param("$.a.b", {"a": 5}, id="scalar-on-the-way"),
        pytest.param("$.l[5]", {"l": [1]}, id="index-out-of-range"),
    ],
)
def test_result_path_match_failure(path: str, state_input: Any) -> None:
    with pytest.raises(StatesError) as raised:
        compile_result_path(path, at="/x")(state_input, 1)
    assert raised.value.error == "States.ResultPathMatchFailure"


@pytest.mark.parametrize("path", ["$$.Execution", "$var.x", "$.a[*]", "$..a", "a"])
def test_result_path_must_be_a_reference_path(path: str) -> None:
    with pytest.raises(DefinitionError):
        compile_result_path(path, at="/States/S/ResultPath")
