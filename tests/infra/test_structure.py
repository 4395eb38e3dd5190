"""Wiring that `terraform validate` cannot see, read from the HCL with python-hcl2."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pytest

from scripts import deploy
from tests.infra.hcl import (
    MODULE,
    REPO,
    block,
    document_statements,
    reference,
    role_statements,
    statements,
    unwrap,
)

if TYPE_CHECKING:
    from pathlib import Path

    from tests.infra.hcl import Module

FUNCTIONS = ("aws_lambda_function.router", "aws_lambda_function.inbox")
EFS_ARN = "${aws_efs_file_system.this.arn}"
ACCESS_POINT_ARN = "${aws_efs_access_point.this.arn}"
# Everything the router's role may do: mount EFS, write its logs, manage its ENIs.
ROUTER_ACTIONS = {
    "elasticfilesystem:ClientMount",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
}


def merge_arguments(expression: str) -> list[str]:
    match = re.fullmatch(r"\$\{merge\((.*)\)\}", expression, flags=re.DOTALL)
    assert match, f"not a merge(...): {expression}"
    return [argument.strip() for argument in match.group(1).split(",")]


def app_routes(tmp_path: Path) -> set[str]:
    """``"METHOD /path"`` for every route of the FastAPI app, HEAD aside."""
    from fastapi.routing import APIRoute

    from router.api.app import create_app
    from router.registry.registry import ModelRegistry
    from router.settings import Settings

    settings = Settings(model_root=tmp_path)
    app = create_app(settings, ModelRegistry.from_settings(settings))

    routes: set[str] = set()

    def walk(entries: list[Any], prefix: str) -> None:
        for entry in entries:
            if isinstance(entry, APIRoute) or hasattr(entry, "methods"):
                methods = (getattr(entry, "methods", None) or set()) - {"HEAD"}
                routes.update(f"{method} {prefix}{entry.path}" for method in methods)
            elif hasattr(entry, "original_router"):
                # FastAPI >= 0.16x keeps included routers nested instead of copying routes.
                context = getattr(entry, "include_context", None)
                walk(entry.original_router.routes, prefix + getattr(context, "prefix", ""))

    walk(list(app.routes), "")
    # The OpenAPI document lists every API route through public API: nothing may be missing.
    for path, operations in app.openapi()["paths"].items():
        routes.update(f"{method.upper()} {path}" for method in operations)
    return routes


def test_functions_see_models_at_the_path_of_router_model_root(module: Module) -> None:
    mount_path = "${var.efs_mount_path}"
    for address in FUNCTIONS:
        function = module.resources[address]
        mount = block(function, "file_system_config")
        assert mount["arn"] == ACCESS_POINT_ARN
        assert module.resolve(mount["local_mount_path"]) == mount_path

        variables = block(function, "environment")["variables"]
        environment = module.resolve(variables)
        if isinstance(environment, str):  # merge(..., var.router_environment, owned)
            arguments = merge_arguments(environment)
            assert arguments[-1].endswith("_owned_environment"), "owned keys must win"
            environment = module.resolve("${" + arguments[-1] + "}")
        assert environment["ROUTER_MODEL_ROOT"] == mount_path, address


def test_mount_path_default_is_one_folder_under_mnt(module: Module) -> None:
    assert re.fullmatch(r"/mnt/[A-Za-z0-9_.-]+", module.variables["efs_mount_path"]["default"])


def test_router_environment_cannot_override_owned_variables(module: Module) -> None:
    condition = block(module.variables["router_environment"], "validation")["condition"]
    allowed = set(re.findall(r'"(ROUTER_[A-Z_]+)"', condition))
    owned = set(module.local("router_owned_environment"))

    assert allowed
    assert not allowed & owned


# Settings that are not the router function's to take from router_environment: how many
# versions publishers keep, and the largest upload the inbox takes, are the inbox's and the
# CLI's business, the batch settings are those of `model-router batch` on a laptop (Step
# Functions sizes the parts on AWS), and under Mangum a body arrives whole, so there is no
# body to time out.
NOT_ROUTER_ENVIRONMENT = {
    "ROUTER_HISTORY_LIMIT",
    "ROUTER_BODY_TIMEOUT_S",
    "ROUTER_INBOX_MAX_BYTES",
    "ROUTER_BATCH_ROWS_PER_PART",
    "ROUTER_BATCH_BYTES_PER_PART",
    "ROUTER_BATCH_PARALLELISM",
    "ROUTER_BATCH_STATE_MACHINE_ARN",
}


def test_every_router_setting_can_be_set_from_terraform(module: Module) -> None:
    """A new setting must be either allowed in router_environment, owned by a variable, or
    named above as not the router function's: a deployment can reach every one."""
    from router.settings import Settings

    settings = {f"ROUTER_{name.upper()}" for name in Settings.model_fields}
    condition = block(module.variables["router_environment"], "validation")["condition"]
    allowed = set(re.findall(r'"(ROUTER_[A-Z_]+)"', condition))
    owned = set(module.local("router_owned_environment"))

    assert settings - allowed - owned - NOT_ROUTER_ENVIRONMENT == set()


def test_environment_names_are_settings_the_router_reads(module: Module) -> None:
    from router.settings import Settings

    settings = {f"ROUTER_{name.upper()}" for name in Settings.model_fields}
    condition = block(module.variables["router_environment"], "validation")["condition"]
    names = set(re.findall(r'"(ROUTER_[A-Z_]+)"', condition))
    for local in (
        "router_owned_environment",
        "router_default_environment",
        "thread_environment",
    ):
        names |= set(module.local(local))

    not_router_settings = {"OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"}
    assert names - not_router_settings <= settings


def test_functions_start_only_after_every_mount_target(module: Module) -> None:
    mount_targets = module.resources["aws_efs_mount_target.this"]
    assert mount_targets["count"] == "${var.az_count}"
    assert mount_targets["subnet_id"] == "${aws_subnet.private[count.index].id}"
    for address in FUNCTIONS:
        assert "${aws_efs_mount_target.this}" in module.resources[address]["depends_on"], address


def test_efs_accepts_nfs_only_from_the_function_security_groups(module: Module) -> None:
    function_groups = {
        address: block(module.resources[address], "vpc_config")["security_group_ids"]
        for address in FUNCTIONS
    }
    assert function_groups == {
        "aws_lambda_function.router": ["${aws_security_group.router.id}"],
        "aws_lambda_function.inbox": ["${aws_security_group.inbox.id}"],
    }
    assert module.resources["aws_efs_mount_target.this"]["security_groups"] == [
        "${aws_security_group.efs.id}"
    ]
    assert not module.resources_of("aws_security_group_rule"), "use the per-rule resources"
    for address, group in module.resources_of("aws_security_group").items():
        assert "ingress" not in group and "egress" not in group, f"inline rules in {address}"

    efs = "${aws_security_group.efs.id}"
    ingress = [
        rule
        for rule in module.resources_of("aws_vpc_security_group_ingress_rule").values()
        if rule["security_group_id"] == efs
    ]
    assert {rule.get("referenced_security_group_id") for rule in ingress} == {
        "${aws_security_group.router.id}",
        "${aws_security_group.inbox.id}",
    }
    for rule in ingress:
        assert (rule["ip_protocol"], rule["from_port"], rule["to_port"]) == ("tcp", 2049, 2049)
        assert not {"cidr_ipv4", "cidr_ipv6", "prefix_list_id"} & set(rule)
    egress = module.resources_of("aws_vpc_security_group_egress_rule").values()
    assert not [rule for rule in egress if rule["security_group_id"] == efs]


def test_default_security_group_has_no_rules(module: Module) -> None:
    default = module.resources["aws_default_security_group.this"]

    assert "ingress" not in default and "egress" not in default


def test_each_function_role_has_one_policy_of_its_own(module: Module) -> None:
    roles = module.resources_of("aws_iam_role")
    assert roles["aws_iam_role.function"]["for_each"] == "${local.functions}"
    policies = [
        policy
        for policy in module.resources_of("aws_iam_role_policy").values()
        if "aws_iam_role.function" in policy["role"]
    ]
    assert policies == [module.resources["aws_iam_role_policy.function"]]
    (policy,) = policies
    assert policy["for_each"] == "${local.functions}"
    assert policy["role"] == "${aws_iam_role.function[each.key].id}"
    assert policy["policy"] == "${data.aws_iam_policy_document.function[each.key].json}"
    for kind in ("aws_iam_role_policy_attachment", "aws_iam_policy_attachment"):
        for attachment in module.resources_of(kind).values():
            assert "aws_iam_role.function" not in str(attachment)


def test_each_function_role_writes_its_own_logs_and_enis_in_its_own_group(
    module: Module,
) -> None:
    security_groups = {"router": "router", "inbox": "inbox", "batch": "inbox"}
    assert set(module.local("all_functions")) == set(security_groups)
    for key, group in security_groups.items():
        function = module.resources[f"aws_lambda_function.{key}"]
        log_group = f'aws_cloudwatch_log_group.function["{key}"]'
        assert block(function, "logging_config")["log_group"] == f"${{{log_group}.name}}"
        assert block(function, "vpc_config")["security_group_ids"] == [
            f"${{aws_security_group.{group}.id}}"
        ]
        granted = {s["sid"]: s for s in role_statements(module, key)}
        assert granted["WriteOwnLogs"]["resources"] == [f"${{{log_group}.arn}}:*"], key
        assert granted["WriteOwnLogs"]["actions"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
        assert f"aws_security_group.{group}.arn" in granted["CreateNetworkInterfaces"]["resources"]
        others = set(security_groups.values()) - {group}
        assert not [
            other
            for other in others
            if f"aws_security_group.{other}." in granted["CreateNetworkInterfaces"]["resources"]
        ], key


# Which service assumes each role; roles trust nothing else.
ROLE_SERVICES = {
    "aws_iam_role.function": "lambda.amazonaws.com",
    "aws_iam_role.flow_logs": "vpc-flow-logs.amazonaws.com",
    "aws_iam_role.batch_state_machine": "states.amazonaws.com",
    "aws_iam_role.batch_events": "events.amazonaws.com",
}


def test_each_role_trusts_only_its_service_on_behalf_of_this_account(module: Module) -> None:
    assert set(module.resources_of("aws_iam_role")) == set(ROLE_SERVICES)
    services = module.local("role_services")
    for address, service in ROLE_SERVICES.items():
        trust = unwrap(module.resources[address]["assume_role_policy"])
        match = re.fullmatch(r'data\.aws_iam_policy_document\.assume_role\["(\w+)"\]\.json', trust)
        assert match, f"{address}: {trust}"
        assert services[match.group(1)] == service, address
        (statement,) = document_statements(module, trust)
        assert statement["actions"] == ["sts:AssumeRole"]
        assert block(statement, "principals") == {"type": "Service", "identifiers": [service]}
        assert block(statement, "condition") == {
            "test": "StringEquals",
            "variable": "aws:SourceAccount",
            "values": ["${local.account_id}"],
        }


def test_resources_folded_into_one_per_function_keep_their_state(module: Module) -> None:
    """Each resource that became an instance of a for_each moves there (a moved block),
    so that an existing deployment updates nothing instead of replacing it."""
    keys = set(module.local("all_functions"))
    for kind in ("aws_cloudwatch_log_group", "aws_iam_role", "aws_iam_role_policy"):
        assert module.resources[f"{kind}.function"]["for_each"] == "${local.functions}"
        for key in keys:
            old = f"{kind}.{key}[0]" if key == "batch" else f"{kind}.{key}"  # batch had count
            assert module.moved.get(old) == f'{kind}.function["{key}"]', old
    for old, new in module.moved.items():
        assert re.sub(r"\[.*\]$", "", old) not in module.resources, f"{old} still exists"
        resource = re.fullmatch(r'(\w+\.\w+)\["([\w-]+)"\]', new)
        assert resource, new
        assert resource.group(1) in module.resources, new


def test_router_role_can_only_read_efs_log_and_manage_enis(module: Module) -> None:
    router = role_statements(module, "router")
    actions = {action for statement in router for action in statement["actions"]}
    assert actions <= ROUTER_ACTIONS
    assert all(statement.get("effect", "Allow") == "Allow" for statement in router)

    (mount,) = [s for s in router if "elasticfilesystem:ClientMount" in s["actions"]]
    assert mount["resources"] == [EFS_ARN]
    condition = block(mount, "condition")
    assert condition["variable"] == "elasticfilesystem:AccessPointArn"
    assert condition["values"] == [ACCESS_POINT_ARN]


def test_only_the_inbox_may_write_efs(module: Module) -> None:
    for function in set(module.local("all_functions")) - {"inbox"}:
        granted = role_statements(module, function)
        assert not [s for s in granted if "elasticfilesystem:ClientWrite" in s["actions"]]
    inbox = role_statements(module, "inbox")
    (write,) = [s for s in inbox if "elasticfilesystem:ClientWrite" in s["actions"]]
    assert write["resources"] == [EFS_ARN]
    assert block(write, "condition")["values"] == [ACCESS_POINT_ARN]

    efs_policy = statements(module.data["aws_iam_policy_document.efs"])
    (deny_writes,) = [s for s in efs_policy if s.get("sid") == "DenyWritesExceptInbox"]
    assert deny_writes["effect"] == "Deny"
    assert deny_writes["actions"] == ["elasticfilesystem:ClientWrite"]
    assert block(deny_writes, "condition") == {
        "test": "ArnNotEquals",
        "variable": "aws:PrincipalArn",
        "values": ['${aws_iam_role.function["inbox"].arn}'],
    }
    writers = [
        principal
        for statement in efs_policy
        if statement.get("effect", "Allow") == "Allow"
        and "elasticfilesystem:ClientWrite" in statement["actions"]
        for principal in block(statement, "principals")["identifiers"]
    ]
    assert writers == ['${aws_iam_role.function["inbox"].arn}']


# What router.publish needs of the inbox bucket (docs/publishing.md): read the uploaded
# objects and metadata.json, tag each version with the verdict, and list under models/ so
# that a missing metadata.json is a 404 rather than a 403.
INBOX_S3_OBJECT_ACTIONS = {
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:GetObjectTagging",
    "s3:GetObjectVersionTagging",
    "s3:PutObjectTagging",
    "s3:PutObjectVersionTagging",
}


def test_inbox_can_read_tag_and_list_only_under_the_inbox_prefix(module: Module) -> None:
    for document in ("aws_iam_policy_document.inbox", "aws_iam_policy_document.s3_endpoint"):
        s3 = [
            s
            for s in statements(module.data[document])
            if any(action.startswith("s3:") for action in s["actions"])
        ]
        object_actions = {
            action for s in s3 if s["actions"] != ["s3:ListBucket"] for action in s["actions"]
        }
        assert object_actions == INBOX_S3_OBJECT_ACTIONS, document
        for statement in s3:
            if statement["actions"] == ["s3:ListBucket"]:
                assert statement["resources"] == ["${aws_s3_bucket.inbox.arn}"]
            else:
                assert statement["resources"] == [
                    "${aws_s3_bucket.inbox.arn}/${local.inbox_key_prefix}*"
                ], document
    inbox = statements(module.data["aws_iam_policy_document.inbox"])
    (listing,) = [s for s in inbox if s["actions"] == ["s3:ListBucket"]]
    assert block(listing, "condition")["values"] == ["${local.inbox_key_prefix}*"]


def test_efs_is_encrypted_backed_up_and_tls_only(module: Module) -> None:
    efs = module.resources["aws_efs_file_system.this"]
    assert efs["encrypted"] is True
    assert efs["kms_key_id"] == "${aws_kms_key.this.arn}"
    assert efs["throughput_mode"] == "elastic"
    backup = module.resources["aws_efs_backup_policy.this"]
    assert block(backup, "backup_policy")["status"] == "ENABLED"

    policy = statements(module.data["aws_iam_policy_document.efs"])
    (tls,) = [s for s in policy if s.get("sid") == "DenyWithoutTls"]
    assert tls["effect"] == "Deny"
    assert block(tls, "condition") == {
        "test": "Bool",
        "variable": "aws:SecureTransport",
        "values": ["false"],
    }


def test_access_point_is_a_non_root_user_without_world_write(module: Module) -> None:
    access_point = module.resources["aws_efs_access_point.this"]
    user = block(access_point, "posix_user")
    root = block(access_point, "root_directory")
    creation = block(root, "creation_info")

    assert root["path"] == "/models"
    assert (user["uid"], user["gid"]) == ("${var.efs_posix_uid}", "${var.efs_posix_gid}")
    assert (creation["owner_uid"], creation["owner_gid"]) == (user["uid"], user["gid"])
    assert re.fullmatch(r"0?[0-7][0-7][0145]", creation["permissions"]), "others may not write"
    assert module.variables["efs_posix_uid"]["default"] != 0


def test_api_invokes_the_alias_with_payload_format_2(module: Module) -> None:
    integration = module.resources["aws_apigatewayv2_integration.router"]
    assert integration["integration_type"] == "AWS_PROXY"
    assert integration["payload_format_version"] == "2.0"
    assert integration["integration_uri"] == "${aws_lambda_alias.router.invoke_arn}"

    permission = module.resources["aws_lambda_permission.api"]
    assert permission["qualifier"] == "${aws_lambda_alias.router.name}"
    assert permission["principal"] == "apigateway.amazonaws.com"

    provisioned = module.resources["aws_lambda_provisioned_concurrency_config.router"]
    assert provisioned["qualifier"] == "${aws_lambda_alias.router.name}"
    assert module.resources["aws_lambda_function.router"]["publish"] is True


def test_api_routes_are_the_app_routes(module: Module, tmp_path: Path) -> None:
    route = module.resources["aws_apigatewayv2_route.this"]
    assert route["for_each"] == (
        "${toset(concat(local.api_routes, local.api_head_routes, "
        "var.expose_api_docs ? local.api_docs_routes : []))}"
    )
    # The plan test checks what this renders to: a HEAD route beside every GET route.
    assert module.local("api_head_routes") == (
        '${[for route in local.api_routes : "HEAD ${trimprefix(route, "GET ")}" '
        'if startswith(route, "GET ")]}'
    )
    assert route["target"] == "integrations/${aws_apigatewayv2_integration.router.id}"

    routes = set(module.local("api_routes"))
    docs = set(module.local("api_docs_routes"))
    assert not routes & docs
    assert routes | docs == app_routes(tmp_path)
    assert module.variables["expose_api_docs"]["default"] is False


def test_api_requires_sigv4_by_default(module: Module) -> None:
    auth = module.variables["api_authorization"]
    assert auth["default"] == "AWS_IAM"
    assert '["AWS_IAM", "JWT", "NONE"]' in block(auth, "validation")["condition"]
    route = module.resources["aws_apigatewayv2_route.this"]
    assert route["authorization_type"] == "${var.api_authorization}"

    stage = module.resources["aws_apigatewayv2_stage.default"]
    assert stage["name"] == "$default"
    assert block(stage, "access_log_settings")["destination_arn"] == (
        "${aws_cloudwatch_log_group.api.arn}"
    )
    throttling = block(stage, "default_route_settings")
    assert {"throttling_rate_limit", "throttling_burst_limit"} <= set(throttling)


def test_both_functions_run_the_package(module: Module) -> None:
    handlers = {address: module.resources[address]["handler"] for address in FUNCTIONS}
    assert handlers == {
        "aws_lambda_function.router": "router.lambda_handler.handler",
        "aws_lambda_function.inbox": "router.publish.lambda_handler.handler",
    }
    assert module.locals["lambda_runtime"] == "python3.12"
    for address in (*FUNCTIONS, "aws_lambda_function.batch"):
        function = module.resources[address]
        assert function["runtime"] == "${local.lambda_runtime}"
        assert function["filename"] == "${local.package_path}"
        assert function["source_code_hash"] == "${local.package_hash}"


def test_inbox_bucket_is_private_encrypted_versioned_and_tls_only(module: Module) -> None:
    public_access = module.resources["aws_s3_bucket_public_access_block.inbox"]
    assert all(
        public_access[key] is True
        for key in (
            "block_public_acls",
            "block_public_policy",
            "ignore_public_acls",
            "restrict_public_buckets",
        )
    )
    encryption = module.resources["aws_s3_bucket_server_side_encryption_configuration.inbox"]
    default = block(block(encryption, "rule"), "apply_server_side_encryption_by_default")
    assert default["sse_algorithm"] == "aws:kms"
    versioning = module.resources["aws_s3_bucket_versioning.inbox"]
    assert block(versioning, "versioning_configuration")["status"] == "Enabled"

    (deny,) = statements(module.data["aws_iam_policy_document.inbox_bucket"])
    assert deny["effect"] == "Deny"
    assert block(deny, "condition")["variable"] == "aws:SecureTransport"

    rule = block(module.resources["aws_s3_bucket_lifecycle_configuration.inbox"], "rule")
    assert rule["status"] == "Enabled"
    assert {"noncurrent_version_expiration", "abort_incomplete_multipart_upload"} <= set(rule)


def test_inbox_events_invoke_the_inbox_function_with_a_dead_letter_queue(
    module: Module,
) -> None:
    notification = block(module.resources["aws_s3_bucket_notification.inbox"], "lambda_function")
    assert notification["lambda_function_arn"] == "${aws_lambda_function.inbox.arn}"
    assert set(notification["events"]) == {"s3:ObjectCreated:*", "s3:ObjectRemoved:*"}
    assert module.resolve(notification["filter_prefix"]) == "models/"

    invoke_config = module.resources["aws_lambda_function_event_invoke_config.inbox"]
    on_failure = block(block(invoke_config, "destination_config"), "on_failure")
    assert on_failure["destination"] == "${aws_sqs_queue.inbox_dead_letters.arn}"


def test_alarms_watch_router_and_inbox(module: Module) -> None:
    assert list(module.resources_of("aws_cloudwatch_metric_alarm")) == [
        "aws_cloudwatch_metric_alarm.this"
    ], "one for_each over local.alarms"
    assert module.resources["aws_cloudwatch_metric_alarm.this"]["for_each"] == (
        "${merge(local.alarms, local.batch_alarms)}"  # batch.tf's, with enable_batch
    )
    watched = {
        (
            alarm["namespace"],
            alarm["metric_name"],
            reference(next(iter(alarm["dimensions"].values()))),
            alarm["statistic"],
        )
        for alarm in module.local("alarms").values()
    }

    assert watched >= {
        ("AWS/Lambda", "Errors", "aws_lambda_function.router.function_name", "Sum"),
        (
            "AWS/Lambda",
            "DestinationDeliveryFailures",
            "aws_lambda_function.inbox.function_name",
            "Sum",
        ),
        ("AWS/Lambda", "AsyncEventsDropped", "aws_lambda_function.inbox.function_name", "Sum"),
        ("AWS/Lambda", "Throttles", "aws_lambda_function.router.function_name", "Sum"),
        ("AWS/Lambda", "Duration", "aws_lambda_function.router.function_name", "p99"),
        ("AWS/Lambda", "Errors", "aws_lambda_function.inbox.function_name", "Sum"),
        (
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            "aws_sqs_queue.inbox_dead_letters.name",
            "Maximum",
        ),
    }


def test_dashboard_metrics_are_the_ones_the_router_emits(module: Module) -> None:
    from router.observability import SERVICE

    # EMF metrics carry only the service dimension (docs/deploy.md: no model dimension).
    assert module.local("emf_dimensions") == {"service": SERVICE}
    source = "\n".join(path.read_text() for path in (REPO / "router").rglob("*.py"))
    counts = set(re.findall(r'\.count\("(\w+)"', source))
    timings = set(re.findall(r'\.milliseconds\("(\w+)"', source))
    assert set(module.local("emf_metrics")) == counts
    assert set(module.local("emf_timings")) == timings


# The router's one log line per prediction request (router.api), as the queries read it.
PREDICTION_FIELDS = {"model", "rows", "status", "latency_ms", "cache"}


def test_model_queries_read_the_prediction_log_line(module: Module) -> None:
    queries = module.local("model_queries")
    assert set(queries) == {"requests", "latency", "errors", "misses"}
    assert module.local("prediction_lines") == 'filter message = "prediction"'
    used = set()
    for query in queries.values():
        text = query["query"]
        assert text.startswith("${local.prediction_lines}")
        assert "by model" in text
        used |= set(re.findall(r"\b(" + "|".join(PREDICTION_FIELDS) + r")\b", text))
    assert used == PREDICTION_FIELDS
    saved = module.resources["aws_cloudwatch_query_definition.model"]
    assert saved["for_each"] == "${local.model_queries}"
    assert saved["log_group_names"] == ['${aws_cloudwatch_log_group.function["router"].name}']


def test_outputs_give_the_uploader_policy_and_the_authorization(module: Module) -> None:
    # scripts/deploy.py prints the call for the authorization Terraform applied.
    assert module.outputs["api_authorization"]["value"] == "${var.api_authorization}"
    policy = module.outputs["uploader_policy_json"]
    assert policy["value"] == "${data.aws_iam_policy_document.uploader.json}"
    assert "kms:Decrypt" in policy["description"]
    assert "kms:Decrypt" in module.outputs["kms_key_arn"]["description"]


def test_every_variable_and_output_is_documented_and_typed(module: Module) -> None:
    for name, variable in module.variables.items():
        assert variable.get("description"), f"variable {name} has no description"
        assert variable.get("type"), f"variable {name} has no type"
    for name, output in module.outputs.items():
        assert output.get("description"), f"output {name} has no description"


@pytest.mark.parametrize(
    "name",
    [
        "router_memory_mb",
        "inbox_memory_mb",
        "router_timeout_s",
        "inbox_timeout_s",
        "efs_mount_path",
        "log_retention_days",
        "api_authorization",
        "architecture",
    ],
)
def test_values_aws_would_reject_have_a_validation(module: Module, name: str) -> None:
    assert block(module.variables[name], "validation")["error_message"]


def test_checkov_skips_are_inline_with_a_reason() -> None:
    skip = re.compile(r"#\s*checkov:skip=")
    for path in MODULE.rglob("*.tf"):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if skip.search(line):
                assert re.search(r"#checkov:skip=CKV2?_AWS_\d+:\S.{15,}$", line), (
                    f"{path.name}:{number}: a skip needs its check id and a reason"
                )


def test_example_sets_only_declared_variables_and_every_required_one(module: Module) -> None:
    example = (MODULE / "examples" / "terraform.tfvars").read_text()
    assigned = set(re.findall(r"^([a-z_0-9]+)\s*=", example, flags=re.MULTILINE))
    required = {name for name, variable in module.variables.items() if "default" not in variable}

    assert assigned <= set(module.variables)
    assert required <= assigned


def test_no_function_reserves_concurrency_unless_a_variable_asks(module: Module) -> None:
    """A reservation must leave 100 of the account's quota unreserved, and a new account's
    quota is often 10: any reservation by default fails a fresh account's apply, after the
    VPC and EFS exist. Each function's reservation is one variable of its own, default -1,
    which the pre-flight of `make deploy` (scripts/deploy.py) checks against the quota."""
    functions = module.resources_of("aws_lambda_function")
    assert len(functions) == 3, sorted(functions)
    checked = {}
    for address, function in functions.items():
        reservation = function.get("reserved_concurrent_executions")
        assert reservation is not None, f"{address}: Lambda's default is unreserved; say so"
        name = reference(reservation)
        assert name is not None and re.fullmatch(r"var\.\w+_reserved_concurrency", name), (
            f"{address}: reserved_concurrent_executions = {reservation}, not a variable"
        )
        variable = name.removeprefix("var.")
        assert module.variables[variable]["default"] == -1, variable
        checked[variable] = address
    # Each is a reservation the pre-flight sums against the quota.
    asked = deploy.requested_concurrency(dict.fromkeys(checked, 5))
    assert set(asked) == set(checked)


@pytest.mark.parametrize("function", ["router", "inbox", "batch"])
def test_the_smallest_memory_allowed_leaves_the_process_its_reserve(
    module: Module, function: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # At 128 MB the package's handler (tests/packaging) and a full cache did not fit.
    from router.settings import LAMBDA_PROCESS_RESERVE_MIB, MIB, Settings

    condition = block(module.variables[f"{function}_memory_mb"], "validation")["condition"]
    match = re.search(rf"var\.{function}_memory_mb >= (\d+)", condition)
    assert match, condition
    smallest = int(match.group(1))
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", function)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", str(smallest))
    settings = Settings()

    reserve = LAMBDA_PROCESS_RESERVE_MIB * MIB
    # A full cache leaves the process its reserve and as much again for requests.
    assert smallest * MIB - settings.cache_max_bytes >= reserve + settings.cache_max_bytes
    # Validating the largest upload the inbox accepts holds about four copies of it.
    assert 4 * settings.inbox_max_bytes + reserve <= smallest * MIB
