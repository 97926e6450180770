"""Clocks: the only place the engine reads time from.

SystemClock   real time
ScaledClock   real time, with waits shortened by a factor (WAIT_TIME_SCALE / --time-scale)
VirtualClock  time that jumps straight to the next due timer once nothing else can happen
"""

from __future__ import annotations

import asyncio
import math
from datetime import datetime, timedelta, timezone


class SystemClock:
    virtual = False

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    async def sleep_until(self, due: datetime) -> None:
        delay = (due - self.now()).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)


class ScaledClock(SystemClock):
    """Waits last `scale` times their written length (0.01: a 100 s Wait takes 1 s); timestamps stay real."""

    def __init__(self, scale: float) -> None:
        self.scale = scale
        self._origin = datetime.now(timezone.utc)

    def now(self) -> datetime:
        real = datetime.now(timezone.utc)
        if self.scale <= 0:
            return real
        return self._origin + (real - self._origin) / self.scale

    async def sleep_until(self, due: datetime) -> None:
        delay = (due - self.now()).total_seconds() * self.scale
        if delay > 0:
            await asyncio.sleep(delay)


class VirtualClock:
    """A clock that only moves when told to: runners advance it to the next timer when they are idle."""

    virtual = True

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(timezone.utc)

    def now(self) -> datetime:
        return self._now

    def advance_to(self, due: datetime) -> None:
        if due > self._now:
            self._now = due

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)

    async def sleep_until(self, due: datetime) -> None:
        self.advance_to(due)


Clock = SystemClock | ScaledClock | VirtualClock


def clock_for(time_scale: float | None) -> Clock:
    """--time-scale: None or 1 real time, 0 virtual time, otherwise scaled."""
    if time_scale is not None and not 0 <= time_scale < math.inf:  # also NaN: a clock that never reaches a Wait
        raise ValueError(f"time_scale must be a finite number of 0 or more, not {time_scale}")
    if time_scale is None or time_scale == 1:
        return SystemClock()
    if time_scale == 0:
        return VirtualClock()
    return ScaledClock(time_scale)
