"""A distributed Map's ItemSelector, applied by its Map Run to each item it reads: pure, as the interpreter's own
evaluations are (time and randomness come in as arguments).

    select = ItemSelector.compile(parameters)         # the Map Run's parameters (fanout._start_map_run)
    child_input = select(index, item, now=now)        # $$.Map.Item.Index / $states.context.Map.Item.Value
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from random import Random
from typing import Any

from stepline.engine.program import JSONATA
from stepline.expr import jsonata
from stepline.expr.scope import Scope
from stepline.expr.templates import compile_template
from stepline.jsonvalue import JSON


class ItemSelector:
    """The ItemSelector (or Parameters) of a Map state with the evaluation context of the moment its run started."""

    def __init__(self, evaluate: Callable[..., JSON] | None, language: str, parameters: Mapping[str, Any]) -> None:
        self._evaluate = evaluate
        self._language = language
        self._input: JSON = parameters.get("Input")
        self._effective: JSON = parameters.get("Effective")
        self._variables: dict[str, JSON] = dict(parameters.get("Variables") or {})
        self._context: dict[str, JSON] = dict(parameters.get("Context") or {})
        self._seed = str(parameters.get("MapRunArn"))

    @classmethod
    def compile(cls, parameters: Mapping[str, Any]) -> ItemSelector:
        selector = parameters.get("ItemSelector")
        language = str(parameters.get("QueryLanguage"))
        evaluate: Callable[..., JSON] | None = None
        if selector is not None:
            evaluate = (jsonata.compile_value(selector, at="/ItemSelector", field="ItemSelector")
                        if language == JSONATA else compile_template(selector, at="/ItemSelector", field="ItemSelector"))
        return cls(evaluate, language, parameters)

    @property
    def selects(self) -> bool:
        """Whether there is an ItemSelector (without one, an item is its child's input)."""
        return self._evaluate is not None

    def __call__(self, index: int, value: JSON, *, now: datetime) -> JSON:
        """The input of the child that processes the item at `index` (the item itself without a selector)."""
        if self._evaluate is None:
            return value
        context = {**self._context, "Map": {"Item": {"Index": index, "Value": value}}}
        rng = Random(f"{self._seed}:{index}")
        if self._language == JSONATA:
            bindings = {**self._variables, "states": {"input": self._input, "context": context}}
            return self._evaluate(bindings, rng=rng, now=now)
        return self._evaluate(self._effective, Scope(context=context, variables=self._variables, rng=rng))
