"""JSONata for JSONata-mode states: "{% expr %}" fields, Step Functions' extra functions, AWS's error texts.

This is the only module that imports the JSONata library (jlens; docs/jsonata.md says why). Expressions are compiled
once; an evaluation only binds variables and runs the compiled expression.

    evaluate = compile_value({"total": "{% $sum($states.input.items.price) %}", "kind": "order"},
                             at="/States/Price/Output", field="Output")
    evaluate({"states": {"input": {...}}, "myVariable": 1}, rng=rng, now=now)

A failure raises StatesError("States.QueryEvaluationError", cause) with AWS's cause text, for example
"The JSONata expression '$nope' specified for the field 'Output/total' returned nothing (undefined)." The engine puts
AWS's prefix in front: "An error occurred while executing the state 'S' (entered at the event id #2). ".
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from random import Random
from typing import Any, NoReturn, Protocol

import jlens
import orjson

from stepline.errors import DefinitionError, Diagnostic, StatesError
from stepline.expr import limits
from stepline.jsonvalue import JSON, dumps, json_type

Bindings = dict[str, JSON]  # variable name without "$" -> value: "states" and the workflow variables

QUERY_EVALUATION_ERROR = "States.QueryEvaluationError"
TIMEOUT = "D1012"  # the library's code for an evaluation stopped by its timeout
HASH_ALGORITHMS = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512"}
RANGE_LIMIT = 1000  # as States.ArrayRange: at most 1000 elements

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_FALLBACK_RNG = Random()  # only when the caller passes no rng; the engine always passes its own


class Evaluator(Protocol):
    """A compiled field value: call it with the bindings of one evaluation."""

    def __call__(self, bindings: Bindings, /, *, rng: Random | None = None, now: datetime | None = None) -> JSON: ...


class _FunctionError(Exception):
    """A Step Functions JSONata function rejected its arguments (reported like a JSONata error)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def is_expression(value: JSON) -> bool:
    """Whether a JSONata-mode field value is an expression: a string that starts with "{%" and ends with "%}".

    AWS trims nothing: " {% $x %}" (a leading space) is a literal string.
    """
    return isinstance(value, str) and len(value) >= 4 and value.startswith("{%") and value.endswith("%}")


def compile_expression(text: str, *, at: str, field: str | None = None) -> Evaluator:
    """Compile the text between "{%" and "%}"; DefinitionError when it is not JSONata.

    `field` names the field in causes ("Output/total"); by default the last segment of `at`.
    """
    field = field if field is not None else _field_of(at)
    source = text.strip()
    try:
        compiled = jlens.Expression(text)
    except jlens.JlensError as error:
        message = f"The value for the field '{field}' must be a valid JSONata expression"
        raise DefinitionError(Diagnostic("SCHEMA_VALIDATION_FAILED", message, at)) from error
    for name, (function, signature) in _STATIC_FUNCTIONS.items():
        compiled.register_function(name, function, signature)
    prefix = f"The JSONata expression '{source}' specified for the field '{field}'"
    # Only expressions that may call $random, $uuid or $eval get them bound per evaluation, and only those that may
    # read the clock get `now` (a text search is enough: binding one that is never called costs nothing but time).
    dynamic = any(f"${name}" in text for name in _DYNAMIC_NAMES)
    reads_clock = any(f"${name}" in text for name in _CLOCK_NAMES)
    # The library converts every binding it is given, read or not: give it only those the expression reads.
    read = _binding_reader(compiled.reads())

    def evaluate(bindings: Bindings, /, *, rng: Random | None = None, now: datetime | None = None) -> JSON:
        variables = read(bindings)
        if dynamic:
            variables = {**_dynamic_functions(rng or _FALLBACK_RNG), **variables}
        clock = None if now is None or not reads_clock else _millis(now)
        try:
            out = compiled.evaluate_json(None, variables, now=clock, **_bounds())
        except jlens.JlensError as error:
            if error.code == TIMEOUT and limits.overtime():
                raise limits.Overtime from None
            raise _query_error(f"{prefix} threw an error during evaluation. {error.code}: {error}", field) from None
        except _FunctionError as error:
            raise _query_error(f"{prefix} threw an error during evaluation. {error.code}: {error.message}", field) from None
        if out is None:  # undefined, or a function (which JSON cannot carry either)
            if _is_function(text, variables):
                raise _query_error(f"{prefix} returned an unsupported result type.", field)
            raise _query_error(f"{prefix} returned nothing (undefined).", field)
        return orjson.loads(out)  # JSON text: integral numbers come back as int (3, not 3.0), as AWS prints them

    evaluate.__doc__ = f"Evaluate {source!r} ({field})."
    return evaluate


def compile_value(value: JSON, *, at: str, field: str) -> Evaluator:
    """Compile a JSONata-mode field value: "{% %}" strings at any depth are expressions, everything else is literal."""
    if is_expression(value):
        return compile_expression(value[2:-2], at=at, field=field)
    if isinstance(value, dict) and _has_expression(value):
        parts = [(key, compile_value(item, at=f"{at}/{_pointer(key)}", field=f"{field}/{key}")) for key, item in value.items()]

        def evaluate_object(bindings: Bindings, /, *, rng: Random | None = None, now: datetime | None = None) -> JSON:
            return {key: part(bindings, rng=rng, now=now) for key, part in parts}

        return evaluate_object
    if isinstance(value, list) and _has_expression(value):
        items = [compile_value(item, at=f"{at}/{index}", field=f"{field}/{index}") for index, item in enumerate(value)]

        def evaluate_array(bindings: Bindings, /, *, rng: Random | None = None, now: datetime | None = None) -> JSON:
            return [item(bindings, rng=rng, now=now) for item in items]

        return evaluate_array

    def constant(bindings: Bindings, /, *, rng: Random | None = None, now: datetime | None = None) -> JSON:
        return value

    return constant


def _query_error(cause: str, field: str) -> StatesError:
    """States.QueryEvaluationError; `location` names the field, as the EvaluationFailed event reports it."""
    error = StatesError(QUERY_EVALUATION_ERROR, cause)
    error.location = field  # type: ignore[attr-defined]
    return error


def unexpected_type(value: JSON, expected: str, *, text: str, field: str) -> StatesError:
    """AWS's error for an expression whose result a field cannot take (Map Items that is not an array, ...)."""
    cause = (
        f"The JSONata expression '{text.strip()}' specified for the field '{field}' returned an unexpected result type. "
        f"Expected '{expected}', but was '{json_type(value)}' for value: {dumps(value)}"
    )
    return _query_error(cause, field)


# Step Functions' JSONata functions ("Transforming data with JSONata in Step Functions", AWS Developer Guide).


def _partition(array: list[JSON], size: float) -> list[JSON]:
    """$partition(array, size): chunks of `size` items; the last may be shorter."""
    step = _integer(size, "partition", 2)
    if step <= 0:
        _fail("D3020", 'Argument 2 of function "partition" must be a positive integer')
    chunks = []
    for start in range(0, len(array), step):
        _tick()
        chunks.append(array[start : start + step])
    return chunks


def _range(start: float, end: float, step: float) -> JSON:
    """$range(start, end, step): start, start+step, ... up to end inclusive; a single value is returned alone."""
    first, last, delta = _integer(start, "range", 1), _integer(end, "range", 2), _integer(step, "range", 3)
    if delta == 0:
        _fail("D3020", 'Argument 3 of function "range" must not be zero')
    values = range(first, last + (1 if delta > 0 else -1), delta)
    if len(values) > RANGE_LIMIT:  # counted before anything is made
        _fail("D3020", f'The function "range" can create at most {RANGE_LIMIT} elements')
    return values[0] if len(values) == 1 else list(values)  # a sequence: [1] collapses to 1, as AWS returns it


def _hash(data: str, algorithm: str) -> str:
    """$hash(value, algorithm): hex digest with MD5, SHA-1, SHA-256, SHA-384 or SHA-512."""
    name = HASH_ALGORITHMS.get(algorithm)
    if name is None:
        _fail("D3020", f'Argument 2 of function "hash" must be one of {", ".join(HASH_ALGORITHMS)}')
    return hashlib.new(name, data.encode()).hexdigest()


def _parse(text: str) -> JSON:
    """$parse(jsonString): the JSON value the string holds (Step Functions' replacement for $eval)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        _fail("D3020", 'Argument 1 of function "parse" must be a valid JSON string')


_STATIC_FUNCTIONS: dict[str, tuple[Callable[..., JSON], str]] = {
    "partition": (_partition, "<an:a>"),
    "range": (_range, "<nnn:j>"),
    "hash": (_hash, "<ss:s>"),
    "parse": (_parse, "<s:j>"),
}


def _dynamic_functions(rng: Random) -> dict[str, Any]:
    """The functions that use the evaluation's randomness, and $eval, which Step Functions does not provide."""

    def random(*seed: JSON) -> float:
        if not seed:
            return rng.random()
        if len(seed) > 1:
            _fail("T0410", 'Argument 2 of function "random" does not match function signature')
        return Random(_integer(seed[0], "random", 1)).random()  # the same seed gives the same number

    def uuid4() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    # A variable that is not a function: "$eval(...)" fails with T1006, as an unknown function does.
    return {"random": random, "uuid": uuid4, "eval": None}


_DYNAMIC_NAMES = ("random", "uuid", "eval")
_CLOCK_NAMES = ("now", "millis")


def _binding_reader(reads: Any) -> Callable[[Bindings], Bindings]:
    """What of the bindings an expression reads (the library's static analysis, `reads()`): the variables it names,
    and of `$states` only the members it names ($states.input but not $states.context)."""
    if reads.get("everyBinding"):
        return lambda bindings: bindings
    read = reads.get("bindings", {})
    names = tuple(name for name in read if name != "states")
    states = read.get("states")
    members = None if states is None or states is True else tuple(states)

    def select(bindings: Bindings) -> Bindings:
        chosen = {name: bindings[name] for name in names if name in bindings}
        whole = bindings.get("states")
        if states is not None and whole is not None:
            chosen["states"] = whole if members is None or not isinstance(whole, dict) else \
                {member: whole[member] for member in members if member in whole}
        return chosen
    return select


def _integer(value: Any, function: str, position: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        _fail("T0410", f'Argument {position} of function "{function}" does not match function signature')
    return int(value)


def _fail(code: str, message: str) -> NoReturn:
    raise _FunctionError(code, message)


def _tick() -> None:
    """limits.tick() in a function of ours: past the time limit, the evaluation fails as the library's would."""
    try:
        limits.tick()
    except StatesError as error:
        raise _FunctionError(TIMEOUT, error.cause or "") from None


def _is_function(text: str, variables: dict[str, Any]) -> bool:
    """Tell a function result from undefined (both come back as nothing); only run on that error path."""
    try:
        probe = jlens.Expression(f"$type((\n{text}\n))")
        return bool(probe.evaluate_json(None, variables, **_bounds()) == '"function"')
    except (jlens.JlensError, _FunctionError):
        return False


def _bounds() -> dict[str, Any]:
    """The library's limits for one evaluation (expr/limits.py): its time (the whole limit, or what is left of the
    inline budget), and the sizes of what it builds."""
    bound = limits.current()
    whole = _whole_bounds(bound)
    if not limits.inlined():
        return whole
    return {**whole, "timeout": min(bound.seconds, limits.remaining())}


_last_bounds: tuple[limits.Limits | None, dict[str, Any]] = (None, {})


def _whole_bounds(bound: limits.Limits) -> dict[str, Any]:
    """The keyword arguments for `bound`, made once per Limits (an evaluation is called with the same ones, and
    hashing the dataclass per call cost as much as building them)."""
    global _last_bounds
    last = _last_bounds  # one read: another thread may replace it meanwhile
    if last[0] is not bound:
        last = _last_bounds = (bound, {"timeout": bound.seconds, "max_string_length": bound.memory_bytes,
                                       "max_result_size": bound.memory_bytes,
                                       # an item costs 16 bytes or more, and 50 in Python
                                       "max_array_length": bound.memory_bytes // 64})
    return last[1]


def _has_expression(value: JSON) -> bool:
    if isinstance(value, dict):
        return any(_has_expression(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_expression(item) for item in value)
    return is_expression(value)


def _millis(now: datetime) -> int:
    return (now - _EPOCH) // timedelta(milliseconds=1)


def _field_of(at: str) -> str:
    return at.rsplit("/", 1)[-1].replace("~1", "/").replace("~0", "~")


def _pointer(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")
