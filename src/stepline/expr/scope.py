"""What an expression can see besides the document it is applied to."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from random import Random

from stepline.jsonvalue import JSON


@dataclass(slots=True)
class Scope:
    """The context object ($$), the visible workflow variables ($name) and the randomness source.

    The engine builds one per state evaluation; expressions only read it.
    """

    context: JSON = field(default_factory=dict)
    variables: Mapping[str, JSON] = field(default_factory=dict)
    rng: Random = field(default_factory=Random)
