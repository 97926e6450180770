"""Large definitions for layout tests: every state type, Choice fan-out, Catch, loops and nesting."""

from __future__ import annotations

import random
from typing import Any

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
