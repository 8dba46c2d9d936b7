"""The reusable workflow drives the Docker action: what it passes must be the action's inputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / ".github" / "workflows" / "mlgate.yml"
ACTION = REPO / "action.yml"


def load(path: Path) -> Any:
    if not path.is_file():
        pytest.skip(f"{path.name} is absent")
    return yaml.safe_load(path.read_text())


def action_steps(workflow: Any) -> list[tuple[str, dict[str, Any]]]:
    return [
        (job_name, step.get("with") or {})
        for job_name, job in workflow["jobs"].items()
        for step in job.get("steps", [])
        if step.get("uses", "").split("#")[0].strip() == "./"
    ]


def test_every_value_passed_to_the_action_is_one_of_its_inputs() -> None:
    inputs = set(load(ACTION)["inputs"])
    steps = action_steps(load(WORKFLOW))
    assert {job for job, _ in steps} == {"scan", "shard"}
    for job, with_ in steps:
        assert set(with_) <= inputs, (job, set(with_) - inputs)


@pytest.mark.parametrize("name", ["image", "platform", "policy", "exclude", "osv-url"])
def test_the_scan_inputs_reach_every_job_that_scans(name: str) -> None:
    """Single job and shards alike: an image given to the workflow is never silently dropped."""
    workflow = load(WORKFLOW)
    # PyYAML reads the key `on` as True
    call = (workflow.get("on") or workflow[True])["workflow_call"]["inputs"]
    assert name in call and name in load(ACTION)["inputs"]
    for job, with_ in action_steps(workflow):
        assert with_.get(name) == f"${{{{ inputs.{name} }}}}", job
