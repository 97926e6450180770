"""A definition as typed values: what `parse_definition` makes of the JSON, once, for every reader.

The walk that validates a definition builds this model (asl/rules.py); the transition checks, the compiler
(engine/program.py), the graph layout and the variable references read it. It is built from any JSON object,
however broken: a field of the wrong type reads as absent here (None, (), False), and `fields` keeps each
object as written, so that validation can report on the value and payload fields (paths, templates, JSONata)
reach the compiler untouched. A `location` is a JSON
pointer written as ValidateStateMachineDefinition writes it: `/States/Fan/Branches[0]/States/Charge`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from stepline.jsonvalue import JSON


@dataclass(frozen=True, slots=True, kw_only=True)
class Retrier:
    """One Retry rule, with AWS's defaults for the fields it leaves out."""

    error_equals: tuple[str, ...]
    interval_seconds: float = 1
    max_attempts: int = 3
    backoff_rate: float = 2.0
    max_delay_seconds: float | None = None
    jitter_strategy: str = "NONE"  # or "FULL"


@dataclass(frozen=True, slots=True, kw_only=True)
class Catcher:
    """One Catch rule; its ResultPath, Output and Assign are in `fields`."""

    error_equals: tuple[str, ...]
    next: str | None
    location: str  # "/States/Charge/Catch[1]"
    fields: Mapping[str, JSON]


@dataclass(frozen=True, slots=True, kw_only=True)
class ChoiceRule:
    """One of a Choice state's Choices; its condition (or comparison), Assign and Output are in `fields`."""

    next: str | None
    location: str  # "/States/Check/Choices[2]"
    fields: Mapping[str, JSON]


@dataclass(frozen=True, slots=True, kw_only=True)
class State:
    """A state of any type. Pass, Wait, Succeed and Fail have no structure beyond this: their payload fields
    (Result, Seconds, Error, ...) are in `fields`."""

    name: str
    type: str  # "Task", "Pass", ...; "" when Type is missing or not a string
    location: str
    query_language: str  # its own QueryLanguage, else its machine's
    fields: Mapping[str, JSON]  # the state as written ({} when it is not an object)
    next: str | None = None
    end: bool = False
    retry: tuple[Retrier, ...] = ()  # Task, Parallel and Map states only
    catch: tuple[Catcher, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskState(State):
    resource: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChoiceState(State):
    choices: tuple[ChoiceRule, ...] = ()
    default: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ParallelState(State):
    branches: tuple[StateMachine, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class MapState(State):
    processor: StateMachine | None = None  # ItemProcessor, or the older Iterator
    processor_field: str = "ItemProcessor"  # which of the two the definition uses
    distributed: bool = False  # ProcessorConfig.Mode is DISTRIBUTED
    label: str | None = None
    # constants only: a *Path or JSONata value reads as None
    max_concurrency: int | None = None
    tolerated_failure_count: int | None = None
    tolerated_failure_percentage: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StateMachine:
    """The definition itself, a Parallel branch or a Map's item processor."""

    location: str  # "" for the definition
    start_at: str | None
    states: Mapping[str, State]  # in the order written; a state that is not an object is a State of type ""
    query_language: str
    fields: Mapping[str, JSON]  # the machine as written
    timeout_seconds: int | None = None  # the definition's TimeoutSeconds


def nested_machines(state: State) -> tuple[StateMachine, ...]:
    """The machines a state holds: a Parallel's branches, a Map's item processor."""
    if isinstance(state, ParallelState):
        return state.branches
    if isinstance(state, MapState) and state.processor is not None:
        return (state.processor,)
    return ()


def all_states(machine: StateMachine) -> Iterator[State]:
    """Every state of a machine and of the machines nested in it, each before what it holds."""
    for state in machine.states.values():
        yield state
        for nested in nested_machines(state):
            yield from all_states(nested)


def map_states(machine: StateMachine) -> Iterator[MapState]:
    """The Map states of a machine and of the machines nested in it; a machine's own before nested ones."""
    yield from (state for state in machine.states.values() if isinstance(state, MapState))
    for state in machine.states.values():
        for nested in nested_machines(state):
            yield from map_states(nested)
