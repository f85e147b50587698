"""Session-wide real services and per-test isolated fastflow instances."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fastflow.settings import Settings, load_settings
from tests.support.oidc_provider import OidcProvider
from tests.support.s3 import S3StandIn, s3_stand_in
from tests.support.server import ADMIN_PASSWORD, ADMIN_USER, LiveServer, start_server
from tests.support.services import (
    PostgresTemplate,
    SqliteTemplate,
    postgres_template,
    service_missing,
)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "pipelines"
TEST_PIPELINES = Path(__file__).resolve().parent / "fixtures" / "pipelines"


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Temporary folders of this checkout's own (not under the machine-wide
    /tmp/pytest-of-<user>, which every pytest session resets to 0700 while another may be
    running): runs of the sandbox's OS user must pass through them. Outside the checkout,
    so a test's PIPELINES_DIR is not inside fastflow's own git repository."""
    if config.option.basetemp is None:
        digest = hashlib.sha256(str(config.rootpath).encode()).hexdigest()[:10]
        config.option.basetemp = Path(tempfile.gettempdir()) / f"fastflow-tests-{digest}"


@pytest.fixture(autouse=True)
def _runs_may_pass(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    """pytest makes its temporary folders 0700; runs of the sandbox's OS user (`nobody`,
    when the tests run as root, as in CI) must pass through them to their work dirs, as
    they would through the folders above a server's DATA_DIR."""
    base = tmp_path_factory.getbasetemp()
    assert tmp_path.parent == base  # made first, so it is passable too
    for folder in (base.parent, base, *(p for p in base.iterdir() if p.is_dir())):
        mode = folder.stat().st_mode
        if mode & 0o011 != 0o011:
            folder.chmod(mode | 0o011)


@pytest.fixture(scope="session")
def uv_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One uv cache for the whole session, as a server shares one between runs."""
    return tmp_path_factory.mktemp("uv-cache")


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3StandIn]:
    """moto's S3 server on loopback: a stand-in for a real S3-compatible store."""
    yield from s3_stand_in()


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    """npm's oidc-provider on loopback: one real OpenID Connect provider for the session."""
    provider = OidcProvider(tmp_path_factory.mktemp("oidc"))
    yield provider
    provider.stop()


@pytest.fixture(scope="session")
def pg_template() -> Iterator[PostgresTemplate | None]:
    yield from postgres_template()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> SqliteTemplate:
    return SqliteTemplate(tmp_path_factory.mktemp("sqlite-template"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sqlite_template: SqliteTemplate,
    pg_template: PostgresTemplate | None,
) -> Iterator[str]:
    """A fresh, migrated database per test — the same tests run on SQLite and PostgreSQL."""
    if request.param == "sqlite":
        yield sqlite_template.clone(tmp_path / "data" / "fastflow.db")
        return
    if pg_template is None:
        service_missing("PostgreSQL", "connection refused")
        return
    url = pg_template.clone()
    yield url
    pg_template.drop(url)


@pytest.fixture
def pipelines_dir(tmp_path: Path) -> Path:
    """Example and test pipelines, copied so a test may change them freely."""
    target = tmp_path / "pipelines"
    shutil.copytree(EXAMPLES, target)
    shutil.copytree(TEST_PIPELINES, target, dirs_exist_ok=True)
    return target


@pytest.fixture
def make_settings(
    tmp_path: Path, db_url: str, pipelines_dir: Path, uv_cache: Path
) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "DATABASE_URL": db_url,
            "PIPELINES_DIR": str(pipelines_dir),
            "DATA_DIR": str(tmp_path / "data"),
            "LOGS_DIR": str(tmp_path / "logs"),
            "UV_CACHE_DIR": str(uv_cache),
            "FASTFLOW_ADMIN_USER": ADMIN_USER,
            "FASTFLOW_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "FASTFLOW_CANCEL_GRACE_SECONDS": 2,
            "FASTFLOW_METRICS_INTERVAL": 0.2,
            # NiceGUI is one per process; in-process test servers run without it. The UI is
            # tested against `fastflow serve` subprocesses in tests/e2e/test_ui.py.
            "FASTFLOW_UI": False,
        }
        values.update(overrides)
        return load_settings(_env_file=None, **values)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
def server(settings: Settings) -> Iterator[LiveServer]:
    live = start_server(settings)
    yield live
    live.stop()


@pytest.fixture
def client(server: LiveServer) -> Iterator[Any]:
    with server.client() as c:
        yield c
