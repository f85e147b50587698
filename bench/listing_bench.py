"""Run listing at scale: 100,000 runs in SQLite and PostgreSQL, filtered and paged via the API.

Bulk-inserts the runs, starts `fastflow serve` on that database and times `GET /api/runs` with
the filters a UI uses. Set BENCH_PG_URL (default: local postgres) or BENCH_SKIP_PG=1.
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import timedelta

import sqlalchemy as sa

from bench.common import BenchServer, bench_dir, ms
from fastflow.records import Run, utcnow
from fastflow.storage.db import create_db_engine, upgrade

N = int(os.environ.get("BENCH_RUNS", "100000"))
REPEAT = int(os.environ.get("BENCH_REPEAT", "30"))
PIPELINES = [f"pipeline_{i:02d}" for i in range(20)]
STATUSES = ["SUCCESS"] * 7 + ["FAILED"] * 2 + ["CANCELLED"]
PG_URL = os.environ.get("BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")

QUERIES = {
    "newest page": "/api/runs?limit=50",
    "pipeline": "/api/runs?pipeline=pipeline_07&limit=50",
    "status": "/api/runs?status=FAILED&limit=50",
    "pipeline+status": "/api/runs?pipeline=pipeline_07&status=FAILED&limit=50",
    "time range": "/api/runs?since={since}&until={until}&limit=50",
    "deep page": "/api/runs?status=SUCCESS&offset=20000&limit=50",
    "pipeline runs": "/api/pipelines/pipeline_03/runs?limit=50",
}


def _fill(url: str) -> None:
    engine = create_db_engine(url)
    upgrade(engine)
    now = utcnow()
    rows = []
    for i in range(N):
        rows.append(
            {
                "id": uuid.uuid4().hex,
                "pipeline_name": PIPELINES[i % len(PIPELINES)],
                "status": STATUSES[i % len(STATUSES)],
                "trigger": "api",
                "attempt": 1,
                "max_attempts": 1,
                "executor": "local",
                "parameters": {},
                "env_vars": {},
                "cancel_requested": False,
                "last_seq": 0,
                "created_at": now - timedelta(minutes=i),
                "started_at": now - timedelta(minutes=i),
                "finished_at": now - timedelta(minutes=i) + timedelta(seconds=3),
            }
        )
    t = time.perf_counter()
    with engine.begin() as conn:
        for start in range(0, N, 10_000):
            conn.execute(sa.insert(Run), rows[start : start + 10_000])
    # A live table has been vacuumed by autovacuum; a fresh bulk load has not (VACUUM sets the
    # visibility map that index-only scans and counts rely on).
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(
            "VACUUM ANALYZE runs" if engine.dialect.name == "postgresql" else "ANALYZE"
        )
    print(f"  inserted {N:,} runs in {time.perf_counter() - t:.1f} s")
    engine.dispose()


def _measure(label: str, url: str) -> None:
    print(f"== listing: {N:,} runs, {label}, {REPEAT} requests per query")
    _fill(url)
    server = BenchServer({}, DATABASE_URL=url)
    try:
        now = utcnow()
        since = (now - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%S")
        until = (now - timedelta(days=29)).strftime("%Y-%m-%dT%H:%M:%S")
        for name, path in QUERIES.items():
            path = path.format(since=since, until=until)
            server.client.get(path).raise_for_status()  # warm
            times = []
            for _ in range(REPEAT):
                t = time.perf_counter()
                r = server.client.get(path)
                times.append(time.perf_counter() - t)
                r.raise_for_status()
            total = r.json()["total"]
            print(f"  {name:16} {ms(times)}   (total {total:,})")
    finally:
        server.close()


def main() -> None:
    tmp = bench_dir("fastflow-listing-")
    _measure("SQLite", f"sqlite:///{tmp / 'runs.db'}")
    if os.environ.get("BENCH_SKIP_PG") == "1":
        return
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    name = f"fastflow_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        url = sa.engine.make_url(PG_URL).set(database=name).render_as_string(False)
        _measure("PostgreSQL", url)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
