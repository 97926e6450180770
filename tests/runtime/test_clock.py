"""clock_for: which clock a time scale selects, and the scales that would never reach a Wait."""

from __future__ import annotations

import asyncio
import math
from datetime import datetime, timedelta, timezone

import pytest
from support import machine

from stepline.runtime.clock import ScaledClock, SystemClock, VirtualClock, clock_for
from stepline.service.workflow import Workflow


@pytest.mark.parametrize(("scale", "kind"), [
    pytest.param(None, SystemClock, id="none-real"),
    pytest.param(1, SystemClock, id="one-real"),
    pytest.param(0, VirtualClock, id="zero-virtual"),
    pytest.param(0.01, ScaledClock, id="scaled"),
])
def test_clock_for(scale: float | None, kind: type) -> None:
    assert type(clock_for(scale)) is kind


@pytest.mark.parametrize("scale", [pytest.param(-1, id="negative"), pytest.param(math.nan, id="nan"),
                                   pytest.param(math.inf, id="infinite")])
def test_unusable_time_scales_are_rejected(scale: float) -> None:
    with pytest.raises(ValueError, match="time_scale"):
        clock_for(scale)
    with pytest.raises(ValueError, match="time_scale"):
        Workflow(machine({"W": {"Type": "Wait", "Seconds": 1, "End": True}})).run({}, time_scale=scale)


@pytest.mark.parametrize("scale", ["-1", "nan", "inf", "fast"])
def test_cli_rejects_unusable_time_scales(scale: str, capsys: pytest.CaptureFixture[str]) -> None:
    from stepline.cli.main import main

    with pytest.raises(SystemExit) as exited:
        main(["run", "whatever.asl.json", "--time-scale", scale])
    assert exited.value.code == 2
    assert "--time-scale" in capsys.readouterr().err


def test_virtual_clock_only_moves_forward() -> None:
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    clock = VirtualClock(start)
    asyncio.run(clock.sleep_until(start + timedelta(days=365)))
    assert clock.now() == start + timedelta(days=365)
    clock.advance_to(start)
    assert clock.now() == start + timedelta(days=365)
