from __future__ import annotations

import pytest

from fastflow.errors import ConfigError, InvalidInputError
from fastflow.pipelines.config import PipelineConfig
from fastflow.runs.parameters import resolve_parameters
from fastflow.settings import load_settings


def test_invalid_settings_name_the_variable() -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(_env_file=None, MAX_CONCURRENT_RUNS="x", EXECUTOR="kubernetes")
    lines = str(err.value).splitlines()
    assert len(lines) == 2
    assert any(line.startswith("invalid configuration: MAX_CONCURRENT_RUNS:") for line in lines)
    assert any(line.startswith("invalid configuration: EXECUTOR:") for line in lines)


def test_defaults_and_postgres_url() -> None:
    s = load_settings(_env_file=None, DATABASE_URL="postgresql://u@h/db")
    assert s.sqlalchemy_url == "postgresql+psycopg://u@h/db"
    assert s.max_concurrent_runs == 10 and s.log_stream_rate_limit == 100
    assert load_settings(_env_file=None).sqlalchemy_url.startswith("sqlite:///")


def test_parameters_merge_defaults_and_reject_bad_names() -> None:
    cfg = PipelineConfig.model_validate(
        {"parameters": {"A": "1", "B": {"default": None, "required": True}, "C": 3, "D": None}}
    )
    assert resolve_parameters(cfg, {"B": True, "D": [1, 2]}) == {
        "A": "1",
        "B": "true",
        "C": "3",
        "D": "[1, 2]",
    }
    with pytest.raises(InvalidInputError, match="required"):
        resolve_parameters(cfg, {})
    for bad in ("1abc", "a-b", "FASTFLOW_RUN_ID", "x y"):
        with pytest.raises(InvalidInputError):
            resolve_parameters(PipelineConfig(), {bad: "v"})
    with pytest.raises(InvalidInputError, match="NUL"):
        resolve_parameters(PipelineConfig(), {"A": "a\x00b"})


def test_dotenv_file_is_read(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / ".env").write_text("MAX_CONCURRENT_RUNS=3\nFASTFLOW_PORT=9001\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MAX_CONCURRENT_RUNS", raising=False)
    monkeypatch.delenv("FASTFLOW_PORT", raising=False)
    s = load_settings()
    assert (s.max_concurrent_runs, s.port) == (3, 9001)


def test_a_pipeline_that_declares_parameters_refuses_others_by_name() -> None:
    cfg = PipelineConfig.model_validate({"parameters": {"DAYS": "7", "REGION": "eu"}})
    with pytest.raises(InvalidInputError) as err:
        resolve_parameters(cfg, {"DAY": "3"})
    assert err.value.status_code == 422
    assert err.value.message == (
        "parameter 'DAY' not declared by this pipeline; it takes: DAYS, REGION"
    )
    assert resolve_parameters(cfg, {"DAYS": "3"}) == {"DAYS": "3", "REGION": "eu"}
    # A pipeline that declares nothing takes whatever it is given.
    assert resolve_parameters(PipelineConfig(), {"ANY": "x"}) == {"ANY": "x"}
