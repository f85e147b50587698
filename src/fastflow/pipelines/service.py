"""PipelineService: discovered pipelines joined with their stored stats and last runs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastflow.pipelines.discovery import PipelineCatalog, PipelineDefinition, check_name
from fastflow.records import Pipeline, Run, RunFilter
from fastflow.storage.pipeline_store import PipelineStore
from fastflow.storage.run_store import RunStore

# (definition, its row, whether it was warming BEFORE the row was read) -> cache status.
CacheStatus = Callable[[PipelineDefinition, Pipeline, bool], str | None]


@dataclass
class PipelineView:
    definition: PipelineDefinition
    row: Pipeline
    last_run: Run | None
    running: int
    cache_status: str | None = None

    @property
    def enabled(self) -> bool:
        return self.row.enabled and self.definition.config.enabled


class PipelineService:
    def __init__(
        self,
        catalog: PipelineCatalog,
        store: PipelineStore,
        runs: RunStore,
        cache_status: CacheStatus | None = None,
        warming: Callable[[], set[str]] = set,
    ) -> None:
        self.catalog = catalog
        self.store = store
        self.runs = runs
        self._cache_status: CacheStatus = cache_status or (lambda d, r, w: None)
        # Read before the rows: a warm-up records its result before it stops "warming", so
        # a pipeline not warming at this point has its outcome in the row read next.
        self._warming = warming

    def list(self) -> list[PipelineView]:
        found = self.catalog.scan()
        warming = set(self._warming())
        rows = self.store.ensure(found)
        last = self.runs.latest_by_pipeline()
        running = self.runs.running_counts()
        for name, p in found.items():
            if rows[name].has_requirements != p.has_requirements:
                self.store.set_has_requirements(name, p.has_requirements)
        return [
            PipelineView(
                p,
                rows[name],
                last.get(name),
                running.get(name, 0),
                self._cache_status(p, rows[name], name in warming),
            )
            for name, p in found.items()
        ]

    def get(self, name: str) -> PipelineView:
        definition = self.catalog.get(name)
        warming = name in self._warming()
        row = self.store.get(name)
        page, _ = self.runs.search(RunFilter(pipeline=name), limit=1)
        running = self.runs.running_counts().get(name, 0)
        return PipelineView(
            definition,
            row,
            page[0] if page else None,
            running,
            self._cache_status(definition, row, warming),
        )

    def names(self) -> tuple[str, ...]:
        """The names of every pipeline in PIPELINES_DIR, sorted."""
        return tuple(sorted(self.catalog.scan()))

    def set_enabled(self, name: str, enabled: bool) -> PipelineView:
        """Enable or disable a pipeline (NotFoundError for one that does not exist)."""
        self.catalog.get(check_name(name))
        self.store.set_enabled(name, enabled)
        return self.get(name)

    def reset_stats(self, name: str) -> PipelineView:
        self.catalog.get(check_name(name))
        self.store.reset_stats(name)
        return self.get(name)
