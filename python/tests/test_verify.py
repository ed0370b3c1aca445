"""`fa.verify`: a folder against its manifest."""

from __future__ import annotations

from pathlib import Path

import pytest

import fetch_assets as fa


def test_verify_names_each_damaged_file(fake, tmp_path: Path) -> None:
    service = fake({"fixture": "v3_model_pbr_same"})
    manifest = service.client().fetch(service.task_id, tmp_path)
    assert fa.verify(tmp_path) == manifest

    model = tmp_path / "model.glb"
    model.write_bytes(model.read_bytes() + b"!")
    (tmp_path / "rendered_image.webp").unlink()
    with pytest.raises(fa.VerifyError) as damaged:
        fa.verify(tmp_path)

    assert damaged.value.exit_code == 1
    assert damaged.value.files == {
        "model.glb": f"FAILED (size {manifest.files[0].size + 1} bytes, expected {manifest.files[0].size})",
        "rendered_image.webp": "MISSING",
    }
    assert "2 of 2 files" in str(damaged.value)
    assert damaged.value.hint == "run the fetch again to repair them"


def test_a_folder_without_a_manifest_fails_verify(tmp_path: Path) -> None:
    with pytest.raises(fa.VerifyError) as nothing:
        fa.verify(tmp_path)
    assert nothing.value.exit_code == 1
    assert "manifest.json" in str(nothing.value)
    assert nothing.value.files == {}
