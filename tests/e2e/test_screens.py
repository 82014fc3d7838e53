"""``python -m tools.screens`` renders every surface from a real scenario, and each validates."""

from __future__ import annotations

import json
from pathlib import Path

from tools import screens

SURFACES = {
    "approval-card": "message",
    "progress-message": "message",
    "success-message": "message",
    "stage-output": "message",
    "failure-message": "message",
    "outcome-dm": "message",
    "rollback-message": "message",
    "history": "message",
    "where": "message",
    "metrics": "message",
    "digest": "message",
    "dry-run": "message",
    "deploy-modal": "modal",
    "deploy-modal-versions": "modal",
    "deploy-preview": "modal",
    "create-modal": "modal",
    "runbook-modal": "modal",
    "app-home": "home",
}


def test_every_surface_is_rendered_and_valid(tmp_path: Path) -> None:
    assert screens.main(["--out", str(tmp_path)]) == 0
    for name, surface in SURFACES.items():
        payload = json.loads((tmp_path / f"{name}.json").read_text())
        if surface == "message":
            assert payload["blocks"], name
        else:
            assert payload["type"] == surface, name
    failure = (tmp_path / "failure-message.json").read_text()
    assert "deployment_rollback" in failure and "RB-1" in failure  # the Roll back button and a linked runbook
    home = json.loads((tmp_path / "app-home.json").read_text())
    assert len(home["blocks"]) <= 100
    readme = (tmp_path / "README.md").read_text()
    assert all(f"`{name}.json`" in readme for name in SURFACES)
