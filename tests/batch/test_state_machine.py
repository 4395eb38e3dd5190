"""The batch state machine: valid Amazon States Language (checked by asl-validator, which
`make test` installs into .venv-asl), and wired to what terraform/batch.tf builds."""

from __future__ import annotations

import json
import re
import subprocess
from typing import TYPE_CHECKING, Any

import pytest

from router.batch.bucket import INPUT_PREFIX, RESULTS_PREFIX
from tests.batch.conftest import ASL_TEMPLATE, BUCKET, FUNCTION_ARN, render_definition
from tests.infra.hcl import REPO, block, load_module, statements

if TYPE_CHECKING:
    from pathlib import Path

    from tests.infra.hcl import Module

ASL_VALIDATOR = REPO / ".venv-asl" / "node_modules" / ".bin" / "asl-validator"
FUNCTION = "aws_lambda_function.batch[0]"
BUCKET_REF = "aws_s3_bucket.batch[0]"


@pytest.fixture(scope="module")
def module() -> Module:
    return load_module()


def validate(definition: dict[str, Any], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    if not ASL_VALIDATOR.is_file():
        pytest.fail(f"{ASL_VALIDATOR} is missing: run `make test` (or `make {ASL_VALIDATOR}`)")
    path = tmp_path / "definition.json"
    path.write_text(json.dumps(definition))
    return subprocess.run(
        [str(ASL_VALIDATOR), "--json-path", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def tasks(states: dict[str, Any]) -> dict[str, Any]:
    """Every Task state, those inside the maps' item processors too."""
    found = {}
    for name, state in states.items():
        if state["Type"] == "Task":
            found[name] = state
        if state["Type"] == "Map":
            found.update(tasks(state["ItemProcessor"]["States"]))
    return found


def role_statements(module: Module, document: str) -> dict[str, dict[str, Any]]:
    return {s["sid"]: s for s in statements(module.data[f"aws_iam_policy_document.{document}"])}


def test_the_definition_is_valid_amazon_states_language(tmp_path: Path) -> None:
    result = validate(render_definition(), tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "is valid" in result.stdout


def test_the_validator_refuses_a_broken_definition(tmp_path: Path) -> None:
    definition = render_definition()
    definition["States"]["PredictCsv"]["ItemBatcher"]["MaxItemsPerBatch"] = "many"
    del definition["States"]["Done"]

    result = validate(definition, tmp_path)

    assert result.returncode != 0
    assert "MaxItemsPerBatch" in result.stdout + result.stderr


def test_every_placeholder_is_filled_from_the_resources_terraform_builds(module: Module) -> None:
    machine = module.resources["aws_sfn_state_machine.batch"]
    call = re.fullmatch(
        r'\$\{templatefile\("\$\{path\.module\}/batch\.asl\.json", \{(.*)\}\)\}',
        machine["definition"],
        flags=re.DOTALL,
    )
    assert call, machine["definition"]
    arguments = dict(re.findall(r"(\w+)\s*=\s*([^,\s]+)", call.group(1)))
    placeholders = set(re.findall(r"\$\{(\w+)\}", ASL_TEMPLATE.read_text()))

    assert set(arguments) == placeholders
    assert arguments["function_arn"] == f"{FUNCTION}.arn"
    assert arguments["bucket"] == f"{BUCKET_REF}.id"
    assert arguments["rows_per_part"] == "var.batch_rows_per_part"
    assert arguments["bytes_per_part"] == "var.batch_bytes_per_part"
    assert arguments["max_concurrency"] == "var.batch_max_concurrency"


def test_every_task_invokes_the_batch_function_which_the_role_allows(module: Module) -> None:
    definition = render_definition()
    found = tasks(definition["States"])
    assert set(found) == {"Prepare", "PredictCsvPart", "PredictJsonlPart", "Finish"}
    for state in found.values():
        assert state["Resource"] == "arn:aws:states:::lambda:invoke"
        assert state["Parameters"]["FunctionName"] == FUNCTION_ARN

    invoke = role_statements(module, "batch_state_machine")["InvokeBatchFunction"]
    assert invoke["actions"] == ["lambda:InvokeFunction"]
    assert invoke["resources"] == [f"${{{FUNCTION}.arn}}", f"${{{FUNCTION}.arn}}:*"]
    function = module.resources["aws_lambda_function.batch"]
    assert function["handler"] == "router.batch.lambda_handler.handler"


def test_the_maps_read_inputs_and_write_results_where_the_role_allows(module: Module) -> None:
    definition = render_definition()
    granted = role_statements(module, "batch_state_machine")
    bucket_arn = f"${{{BUCKET_REF}.arn}}"
    inputs = f"{bucket_arn}/${{local.batch_input_prefix}}*"
    results = f"{bucket_arn}/${{local.batch_results_prefix}}*"
    assert module.locals["batch_input_prefix"] == INPUT_PREFIX
    assert module.locals["batch_results_prefix"] == RESULTS_PREFIX

    for name in ("PredictCsv", "PredictJsonl"):
        state = definition["States"][name]
        assert state["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
        assert state["ItemReader"]["Resource"] == "arn:aws:states:::s3:getObject"
        assert set(state["ItemReader"]["Parameters"]) == {"Bucket.$", "Key.$", "VersionId.$"}
        writer = state["ResultWriter"]
        assert writer["Resource"] == "arn:aws:states:::s3:putObject"
        assert writer["Parameters"]["Bucket"] == BUCKET
        assert state["ToleratedFailurePercentage"] == 0
        assert {"ErrorEquals", "MaxAttempts"} <= set(
            state["ItemProcessor"]["States"][state["ItemProcessor"]["StartAt"]]["Retry"][0]
        )

    assert granted["ReadInputs"]["actions"] == ["s3:GetObject", "s3:GetObjectVersion"]
    assert granted["ReadInputs"]["resources"] == [inputs]
    assert "s3:PutObject" in granted["WriteMapResults"]["actions"]
    assert granted["WriteMapResults"]["resources"] == [results]
    # A Distributed Map runs its item batches as child executions of this state machine.
    assert granted["StartChildWorkflows"]["resources"] == ["${local.batch_state_machine_arn}"]
    machine_arn = module.locals["batch_state_machine_arn"]
    assert machine_arn.endswith(":stateMachine:${local.batch_state_machine_name}")
    assert module.resources["aws_sfn_state_machine.batch"]["name"] == (
        "${local.batch_state_machine_name}"
    )
    everything = {action for s in granted.values() for action in s["actions"]}
    assert not [action for action in everything if action.endswith("*")]


def test_the_function_writes_only_results_and_mounts_efs_read_only(module: Module) -> None:
    granted = role_statements(module, "batch")
    actions = {action for s in granted.values() for action in s["actions"]}
    assert "elasticfilesystem:ClientWrite" not in actions
    assert granted["ReadModels"]["actions"] == ["elasticfilesystem:ClientMount"]
    writes = [s for s in granted.values() if "s3:PutObject" in s["actions"]]
    assert [s["resources"] for s in writes] == [
        [f"${{{BUCKET_REF}.arn}}/${{local.batch_results_prefix}}*"]
    ]

    function = module.resources["aws_lambda_function.batch"]
    mount = block(function, "file_system_config")
    assert mount["arn"] == "${aws_efs_access_point.this.arn}"
    environment = module.resolve(block(function, "environment")["variables"])
    arguments = re.fullmatch(r"\$\{merge\((.*)\)\}", environment, flags=re.DOTALL)
    assert arguments and "ROUTER_MODEL_ROOT = local.model_root" in arguments.group(1)
    assert mount["local_mount_path"] == "${local.model_root}"


def test_an_object_created_under_batch_starts_the_state_machine(module: Module) -> None:
    rule = module.resources["aws_cloudwatch_event_rule.batch"]
    pattern = rule["event_pattern"]
    assert '"Object Created"' in pattern or "Object Created" in pattern
    assert "prefix = local.batch_input_prefix" in pattern
    assert f"name = [{BUCKET_REF}.id]" in pattern

    target = module.resources["aws_cloudwatch_event_target.batch"]
    assert target["arn"] == "${aws_sfn_state_machine.batch[0].arn}"
    notification = module.resources["aws_s3_bucket_notification.batch"]
    assert notification["eventbridge"] is True
    (start,) = statements(module.data["aws_iam_policy_document.batch_events"])
    assert start["actions"] == ["states:StartExecution"]
    assert start["resources"] == ["${aws_sfn_state_machine.batch[0].arn}"]


def test_failed_executions_raise_an_alarm(module: Module) -> None:
    alarms = module.resources["aws_cloudwatch_metric_alarm.this"]["for_each"]
    assert "local.batch_alarms" in alarms
    batch_alarms = module.locals["batch_alarms"]
    assert batch_alarms.endswith(": key => alarm if var.enable_batch}}")
    assert (
        '"batch-failed-executions" = {' in batch_alarms or "batch-failed-executions" in batch_alarms
    )
    assert 'metric_name = "ExecutionsFailed"' in batch_alarms
    assert "StateMachineArn = one(aws_sfn_state_machine.batch[*].arn)" in batch_alarms


def test_enable_batch_switches_every_batch_resource(module: Module) -> None:
    text = (REPO / "terraform" / "batch.tf").read_text()
    addresses = re.findall(r'^(?:resource|data) "(\w+)" "(\w+)"', text, flags=re.MULTILINE)
    assert len(addresses) > 15
    for type_name, name in addresses:
        kind = "data" if f'data "{type_name}" "{name}"' in text else "resources"
        body = getattr(module, kind)[f"{type_name}.{name}"]
        switch = body.get("count", body.get("for_each"))
        assert switch in (
            "${local.batch_count}",
            '${var.enable_batch ? {state_machine = "states", events = "events"} : {}}',
        ), f"{type_name}.{name} is built without enable_batch"
    assert module.locals["batch_count"] == "${var.enable_batch ? 1 : 0}"
