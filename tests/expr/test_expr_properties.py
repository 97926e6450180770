"""Property tests: compiling never raises anything but DefinitionError; evaluating never anything but StatesError."""

from __future__ import annotations

from random import Random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from stepline.errors import DefinitionError, StatesError
from stepline.expr.intrinsics import compile_intrinsic
from stepline.expr.paths import compile_path, compile_result_path
from stepline.expr.scope import Scope

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.sampled_from("abcxyz"), children, max_size=4),
    max_leaves=20,
)
path_pieces = st.sampled_from([
    "$", "$$", "$v", ".a", ".b", "[0]", "[-1]", "[*]", "..", "x", "[1:2]", "[:1]", "['a']", "[0,1]",
    "[?(@.a > 1)]", "[?(@.b)]", ".length()", "[", "]", "'", "(", ")", " ", ",", ".*",
])
intrinsic_pieces = st.sampled_from([
    "States.Format(", "States.Array(", "States.ArrayGetItem(", "States.MathAdd(", "States.StringSplit(",
    "States.JsonMerge(", "States.Hash(", "States.ArrayRange(", "States.StringToJson(", "States.Base64Decode(",
    "States.ArrayPartition(", "States.UUID(", "States.MathRandom(", "'{}'", "'a\\\\'", "1", "-2.5", "null", "true",
    "false", "$.a", "$.b[0]", "$$.c", "$v", ",", ")", " ", "'x'", "'SHA-1'",
])
SCOPE = Scope(context={"c": [1, "x"]}, variables={"v": {"a": 3}}, rng=Random(0))


@settings(max_examples=300, deadline=None)
@given(pieces=st.lists(path_pieces, max_size=6), doc=json_values)
def test_paths_raise_only_domain_errors(pieces: list[str], doc: Any) -> None:
    text = "".join(pieces)
    try:
        get = compile_path(text, at="/x", field="InputPath")
    except DefinitionError:
        return
    try:
        get(doc, SCOPE)
    except StatesError:
        pass


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=30))
def test_arbitrary_strings_compile_or_raise_definition_error(text: str) -> None:
    for compile_one in (compile_path, compile_intrinsic):
        try:
            compile_one(text, at="/x", field="f")
        except DefinitionError:
            pass
    try:
        compile_result_path(text, at="/x")
    except DefinitionError:
        pass


@settings(max_examples=400, deadline=None)
@given(pieces=st.lists(intrinsic_pieces, min_size=1, max_size=10), doc=json_values)
def test_intrinsics_raise_only_domain_errors(pieces: list[str], doc: Any) -> None:
    try:
        evaluate = compile_intrinsic("".join(pieces), at="/x", field="f.$")
    except DefinitionError:
        return
    try:
        evaluate({"a": doc, "b": [doc]}, SCOPE)
    except StatesError:
        pass


@settings(max_examples=200, deadline=None)
@given(doc=json_values, result=json_values, keys=st.lists(st.sampled_from("abc"), min_size=1, max_size=3))
def test_result_path_never_mutates_its_input(doc: Any, result: Any, keys: list[str]) -> None:
    before = repr(doc)
    try:
        compile_result_path("$." + ".".join(keys), at="/x")(doc, result)
    except StatesError:
        pass
    assert repr(doc) == before
