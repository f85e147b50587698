"""Run every benchmark: `uv run python -m bench.run` (or `python bench/run.py`)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BENCHES = [
    "bench.core_bench",
    "bench.builds_bench",
    "bench.listing_bench",
    "bench.ui_bench",
    "bench.celery_bench",
    "bench.sandbox_bench",
    "bench.warm_bench",
]


def main() -> None:
    chosen = sys.argv[1:] or BENCHES
    for name in chosen:
        module = importlib.import_module(name if name.startswith("bench.") else f"bench.{name}")
        module.main()


if __name__ == "__main__":
    main()
