"""Definitions for layout tests: large ones with every state type, Choice fan-out, Catch, loops and nesting, and a
hypothesis strategy for ones that are hard to draw."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import strategies as st

LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:work"


def large_definition(size: int, seed: int = 7) -> dict[str, Any]:
    """A valid-shaped definition of about `size` states (nested ones included), deterministic for a seed."""
    rng = random.Random(seed)
    names = [f"S{i:03d}" for i in range(size)]
    states: dict[str, Any] = {}
    counter = [size]

    def fresh(prefix: str) -> str:
        counter[0] += 1
        return f"{prefix}{counter[0]}"

    def small_branch() -> dict[str, Any]:
        first, second = fresh("B"), fresh("B")
        return {"StartAt": first, "States": {
            first: {"Type": "Task", "Resource": LAMBDA, "Next": second},
            second: {"Type": "Pass", "End": True}}}

    for i, name in enumerate(names):
        later = names[i + 1:] or [None]
        following = later[0]
        roll = rng.random()
        if following is None:
            states[name] = {"Type": "Succeed"}
        elif roll < 0.12:
            targets = rng.sample(later[:8], min(len(later[:8]), rng.randint(1, 3)))
            states[name] = {"Type": "Choice", "Choices": [
                {"Variable": f"$.v{k}", "NumericGreaterThan": k, "Next": t} for k, t in enumerate(targets)],
                "Default": following}
        elif roll < 0.17:  # a task whose failure ends the execution
            failed = fresh("F")
            states[failed] = {"Type": "Fail", "Error": "Broken", "Cause": name}
            states[name] = {"Type": "Task", "Resource": LAMBDA, "Next": following,
                            "Catch": [{"ErrorEquals": ["Broken"], "Next": failed}]}
        elif roll < 0.22:
            states[name] = {"Type": "Parallel", "Branches": [small_branch(), small_branch()], "Next": following}
        elif roll < 0.27:
            states[name] = {"Type": "Map", "ItemProcessor": small_branch(), "Next": following}
        elif roll < 0.32:
            states[name] = {"Type": "Wait", "Seconds": 5, "Next": following}
        elif roll < 0.36 and i > 5:
            back = names[rng.randint(max(0, i - 6), i - 1)]  # a loop back
            states[name] = {"Type": "Choice", "Choices": [{"Variable": "$.again", "BooleanEquals": True,
                                                             "Next": back}], "Default": following}
        elif roll < 0.6:
            task: dict[str, Any] = {"Type": "Task", "Resource": LAMBDA, "Next": following}
            if rng.random() < 0.4:
                task["Retry"] = [{"ErrorEquals": ["States.Timeout"], "MaxAttempts": 2}]
            if rng.random() < 0.3:
                task["Catch"] = [{"ErrorEquals": ["States.ALL"], "Next": rng.choice(later[:10])}]
            states[name] = task
        else:
            states[name] = {"Type": "Pass", "Next": following}
    return {"StartAt": names[0], "States": states}


# ---------------------------------------------------------------------- definitions that are hard to draw


def _name(draw: Any, number: int) -> str:
    """A unique name: short, long with the difference at the end or in the middle, or words with spaces."""
    style = draw(st.integers(0, 4))
    customer = "".join(chr(ord("A") + int(d)) for d in str(number))
    return [f"S{number}", f"ProcessOrderStepForCustomer{customer}",
            f"Validate{customer}IncomingPaymentRequestAndNotifyDownstreamSystems",
            f"Charge the card of customer {number} and wait", f"X{number}"][style]


@st.composite
def machines(draw: Any, depth: int = 3, counter: list[int] | None = None) -> dict[str, Any]:
    """A state machine: chains with Choice fan-out and long loops back, Catch edges anywhere, terminal states in
    the middle, and Parallels (up to 5 branches) and Maps nested up to `depth` deep (Maps in Parallels too)."""
    counter = counter if counter is not None else [0]
    depth = depth if counter[0] < 50 else 0  # about 80 states at most: a few seconds for the whole test
    size = draw(st.integers(1, 9 if depth else 4))
    names = []
    for _ in range(size):
        counter[0] += 1
        names.append(_name(draw, counter[0]))
    states: dict[str, Any] = {}
    for i, name in enumerate(names):
        following = names[i + 1] if i + 1 < size else None
        kinds = ["Task", "Pass", "Wait", "Choice", "Succeed", "Fail"] + (["Parallel", "Map"] if depth else [])
        kind = draw(st.sampled_from(kinds)) if following else draw(st.sampled_from(["Succeed", "Fail", "Task"]))
        if kind in ("Succeed", "Fail"):
            states[name] = {"Type": kind}
            continue
        if kind == "Choice":
            targets = draw(st.lists(st.sampled_from(names), min_size=1, max_size=4))  # back to the start too
            states[name] = {"Type": "Choice", "Choices": [
                {"Variable": f"$.value{k}", "NumericGreaterThan": k, "Next": t} for k, t in enumerate(targets)],
                **({"Default": following} if following else {})}
            continue
        state: dict[str, Any] = {"Type": kind}
        if kind == "Task":
            state["Resource"] = LAMBDA
            if draw(st.booleans()):
                state["Retry"] = [{"ErrorEquals": ["States.Timeout"]}]
        elif kind == "Wait":
            state["Seconds"] = 1
        elif kind == "Parallel":
            width = draw(st.integers(1, 5))
            state["Branches"] = [draw(machines(depth - 1, counter)) for _ in range(width)]
        elif kind == "Map":
            state["ItemProcessor"] = draw(machines(depth - 1, counter))
        if kind in ("Task", "Parallel", "Map") and draw(st.integers(0, 2)) == 0:
            state["Catch"] = [{"ErrorEquals": ["States.ALL"], "Next": draw(st.sampled_from(names))}]
        if following and draw(st.integers(0, 5)):
            state["Next"] = following
        else:
            state["End"] = True
        states[name] = state
    return {"StartAt": names[0], "States": states}


def long_loops(size: int) -> dict[str, Any]:
    """A chain of size states with a Choice near the end looping back to each of the first ones, and Catch edges
    from the middle to the end: the longest edges a definition can have."""
    names = [f"Step{i:03d}ProcessingTheItemsOfTheCustomer" for i in range(size)]
    states: dict[str, Any] = {name: {"Type": "Task", "Resource": LAMBDA, "Next": after,
                                     "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Failed"}]}
                              for name, after in zip(names, names[1:])}
    states[names[-1]] = {"Type": "Choice", "Default": "Done", "Choices": [
        {"Variable": "$.again", "NumericEquals": i, "Next": name} for i, name in enumerate(names[:5])]}
    states.update({"Done": {"Type": "Succeed"}, "Failed": {"Type": "Fail"}})
    return {"StartAt": names[0], "States": states}
