"""Every failure is an exception: `fa.Error` with the command's exit code and
a hint, one subclass per exit code."""

from __future__ import annotations

from pathlib import Path

import pytest

import fetch_assets as fa

FAILED_TASK = "916e2a3b-7c4d-4e5f-8a9b-0c1d2e3f4a5b"


def test_the_exceptions_are_one_family() -> None:
    codes = {
        fa.VerifyError: 1,
        fa.UsageError: 2,
        fa.ApiError: 3,
        fa.WaitTimeout: 4,
        fa.DownloadError: 5,
        fa.TaskFailed: 6,
    }
    for kind, code in codes.items():
        assert issubclass(kind, fa.Error)
        assert kind.exit_code == code


def test_usage_errors(fake, tmp_path: Path) -> None:
    with pytest.raises(fa.UsageError) as no_key:
        fa.Client(api_base="http://127.0.0.1:9")
    assert no_key.value.exit_code == 2 and "TRIPO_API_KEY" in str(no_key.value)
    assert "api_key=" in str(no_key.value), "messages name the keyword arguments, not flags"

    service = fake({"fixture": "v3_bare_task"})
    client = service.client()
    with pytest.raises(fa.UsageError, match="not a task id"):
        client.fetch("../etc", tmp_path)
    with pytest.raises(fa.UsageError, match="concurrency"):
        client.fetch(service.task_id, tmp_path, concurrency=0)
    with pytest.raises(fa.UsageError, match="not an output name"):
        client.fetch(service.task_id, tmp_path, only=["Model!"])
    with pytest.raises(fa.UsageError, match="api_version"):
        service.client(api_version="v4")
    with pytest.raises(fa.UsageError) as missing_role:
        client.fetch(service.task_id, tmp_path / "a", only=["depth_image"])
    assert "has no depth_image output" in str(missing_role.value)


def test_api_errors_carry_a_hint(fake, tmp_path: Path) -> None:
    service = fake({"fixture": "v3_bare_task"})
    with pytest.raises(fa.ApiError) as refused:
        service.client(api_key="tsk_wrong_key_000").fetch(service.task_id, tmp_path)
    assert refused.value.exit_code == 3
    assert refused.value.hint is not None and "TRIPO_API_KEY" in refused.value.hint
    with pytest.raises(fa.ApiError, match="not found"):
        service.client().fetch("no-such-task", tmp_path)
    assert not tmp_path.joinpath("model.glb").exists()


def test_a_task_that_runs_too_long_is_a_wait_timeout(fake, tmp_path: Path) -> None:
    service = fake({"fixture": "v3_bare_task", "phases": [["running", 60]]})
    with pytest.raises(fa.WaitTimeout) as waited:
        service.client().fetch(service.task_id, tmp_path / "out", timeout=0.3)
    assert waited.value.exit_code == 4
    assert waited.value.hint is not None and "run again later" in waited.value.hint
    assert not (tmp_path / "out").exists(), "a run that fails before the plan leaves no folder"


def test_a_damaged_file_is_a_download_error(fake, tmp_path: Path) -> None:
    service = fake({"fixture": "v3_bare_task", "damaged": ["model.glb"]})
    with pytest.raises(fa.DownloadError) as failed:
        service.client().fetch(service.task_id, tmp_path)
    assert failed.value.exit_code == 5
    assert "model.glb" in str(failed.value)
    assert not (tmp_path / "model.glb").exists()


def test_a_failed_task_is_task_failed(fake, tmp_path: Path) -> None:
    service = fake({"fixture": "failed"})
    with pytest.raises(fa.TaskFailed) as ended:
        service.client("v2").fetch(FAILED_TASK, tmp_path)
    assert ended.value.exit_code == 6
    assert "failed" in str(ended.value)


def test_a_folder_of_another_task_is_a_usage_error(fake, tmp_path: Path) -> None:
    service = fake({"fixture": "v3_bare_task"})
    service.client().fetch(service.task_id, tmp_path)
    other = fake({"fixture": "v3_model_pbr_same"})
    with pytest.raises(fa.UsageError) as refused:
        other.client().fetch(other.task_id, tmp_path)
    assert refused.value.hint is not None and "force=True" in refused.value.hint
