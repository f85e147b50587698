"""A cancel that arrives between a run's claim and the start of its execution is not lost.

The cancel finds no control to signal yet (the engine has not taken the run up), only the
run's row; the engine must see it there once it does, and the run never starts its code.
"""

from __future__ import annotations

from collections.abc import Callable

from fastflow.models import RunStatus, Trigger
from fastflow.runs.attempts import first_attempt
from fastflow.services import build_services
from fastflow.settings import Settings


async def test_a_cancel_between_claim_and_execution_stops_the_run_before_its_code(
    make_settings: Callable[..., Settings],
) -> None:
    services = build_services(make_settings())
    try:
        pipeline = services.catalog.get("sleeper")
        run = first_attempt(pipeline, {}, executor="local", retries=0, trigger=Trigger.API)
        services.runs.create(run)
        [claimed] = services.runs.claim_pending(1, "test")
        assert not claimed.cancel_requested
        # Nobody executes the run yet: the cancel can only mark its row.
        assert not services.engine.executes(claimed.id)
        services.run_service.cancel(claimed.id)
        await services.engine.execute(claimed)
        final = services.runs.get(claimed.id)
        assert final.status == RunStatus.CANCELLED.value, final
        assert final.pid is None  # its code never started
        log = services.run_service.log_path(claimed.id).read_text()
        assert "tick 0" not in log
    finally:
        for executor in services.executors.values():
            executor.close()
        services.warm.close()
        services.db.dispose()
