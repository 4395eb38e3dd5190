# `terraform test` plans the module against a mocked AWS provider: no account, no network.
# Run by tests/infra/test_terraform.py, which passes -var package_path=<a real zip> and
# loads the provider's schema from the offline stand-in.

mock_provider "aws" {
  # Computed attributes take mock values while planning, so assertions can compare them.
  override_during = plan

  mock_data "aws_availability_zones" {
    defaults = { names = ["eu-west-1a", "eu-west-1b", "eu-west-1c"] }
  }

  mock_data "aws_region" {
    defaults = { region = "eu-west-1" }
  }

  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }

  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }

  mock_data "aws_iam_policy_document" {
    defaults = { json = "{}" }
  }
}

variables {
  region = "eu-west-1"
}

run "defaults" {
  command = plan

  assert {
    condition = alltrue([
      for function in [aws_lambda_function.router, aws_lambda_function.inbox] :
      function.environment[0].variables["ROUTER_MODEL_ROOT"] == function.file_system_config[0].local_mount_path
    ])
    error_message = "Each function's ROUTER_MODEL_ROOT must be its EFS mount path."
  }

  assert {
    condition     = aws_lambda_function.router.file_system_config[0].local_mount_path == "/mnt/models"
    error_message = "The default mount path is /mnt/models."
  }

  assert {
    condition     = aws_lambda_function.router.environment[0].variables["ROUTER_LOAD_WAIT_S"] == "25"
    error_message = "A request may wait for a load 4 s less than the router's 29 s timeout."
  }

  assert {
    condition     = aws_lambda_function.router.environment[0].variables["OMP_NUM_THREADS"] == "1"
    error_message = "One OpenMP thread by default, as ROUTER_NTHREAD defaults to 1."
  }

  assert {
    condition     = length(aws_subnet.private) == 2 && length(aws_efs_mount_target.this) == 2
    error_message = "Two private subnets and one mount target in each by default."
  }

  assert {
    condition     = length(distinct([for subnet in aws_subnet.private : subnet.availability_zone])) == 2
    error_message = "The private subnets must be in different Availability Zones."
  }

  assert {
    condition     = length(aws_nat_gateway.this) == 0 && length(aws_flow_log.this) == 0
    error_message = "No NAT gateway and no flow logs by default."
  }

  assert {
    condition     = aws_apigatewayv2_integration.router.payload_format_version == "2.0"
    error_message = "The router reads HTTP API payload format 2.0."
  }

  assert {
    condition     = alltrue([for route in aws_apigatewayv2_route.this : route.authorization_type == "AWS_IAM" && route.authorizer_id == null])
    error_message = "Every route requires SigV4 (AWS_IAM) by default."
  }

  assert {
    condition = alltrue([
      for key in keys(aws_apigatewayv2_route.this) :
      contains(keys(aws_apigatewayv2_route.this), "HEAD ${trimprefix(key, "GET ")}") if startswith(key, "GET ")
    ]) && contains(keys(aws_apigatewayv2_route.this), "HEAD /health")
    error_message = "Every GET route has its HEAD route: API Gateway answers 404 to a method no route names."
  }

  assert {
    condition     = length(aws_apigatewayv2_authorizer.jwt) == 0 && length(aws_lambda_provisioned_concurrency_config.router) == 0
    error_message = "No JWT authorizer and no provisioned concurrency by default."
  }

  assert {
    condition     = aws_efs_access_point.this.root_directory[0].path == "/models" && aws_efs_access_point.this.posix_user[0].uid == 1000
    error_message = "The access point roots at /models as uid 1000."
  }

  # A new account's concurrency quota is often 10, and Lambda keeps 100 unreserved: any
  # reservation by default would fail PutFunctionConcurrency after creating the function.
  assert {
    condition     = aws_lambda_function.inbox.reserved_concurrent_executions == -1 && aws_lambda_function.router.reserved_concurrent_executions == -1 && aws_lambda_function.batch[0].reserved_concurrent_executions == -1
    error_message = "No function reserves concurrency by default."
  }

  assert {
    condition     = !contains(keys(aws_apigatewayv2_route.this), "GET /docs") && !contains(keys(aws_apigatewayv2_route.this), "GET /openapi.json")
    error_message = "The documentation routes are off by default."
  }

  assert {
    condition     = jsondecode(aws_apigatewayv2_stage.default.access_log_settings[0].format).path == "$context.path"
    error_message = "The access log records the requested path (the route key alone hides the model name)."
  }

  assert {
    condition = alltrue([
      for metric in ["DestinationDeliveryFailures", "AsyncEventsDropped", "Errors"] :
      anytrue([for alarm in aws_cloudwatch_metric_alarm.this : alarm.metric_name == metric && lookup(alarm.dimensions, "FunctionName", "") == aws_lambda_function.inbox.function_name])
    ])
    error_message = "The inbox has alarms on errors, undeliverable failed events and dropped events."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.this["router-duration-p99"].extended_statistic == "p99" && aws_cloudwatch_metric_alarm.this["router-duration-p99"].statistic == null
    error_message = "The duration alarm watches the p99 (an extended statistic)."
  }

  assert {
    condition     = length(aws_cloudwatch_query_definition.model) == 4 && alltrue([for query in aws_cloudwatch_query_definition.model : strcontains(query.query_string, "filter message = \"prediction\"")])
    error_message = "Four saved queries over the router's prediction lines."
  }
}

# The names the functions' log groups, roles and policies had before they were one for_each
# (functions.tf): a rename would replace them.
run "function_resources_keep_their_names" {
  command = plan

  assert {
    condition = (
      [for key in ["router", "inbox", "batch"] : aws_iam_role.function[key].name] == ["model-router-router", "model-router-inbox", "model-router-batch"] &&
      [for key in ["router", "inbox", "batch"] : aws_iam_role_policy.function[key].name] == ["router", "inbox", "batch"] &&
      [for key in ["router", "inbox", "batch"] : aws_cloudwatch_log_group.function[key].name] == ["/aws/lambda/model-router-router", "/aws/lambda/model-router-inbox", "/aws/lambda/model-router-batch"]
    )
    error_message = "Roles, role policies and log groups keep the names they were deployed with."
  }

  assert {
    condition = alltrue([
      for key, function in { router = aws_lambda_function.router, inbox = aws_lambda_function.inbox, batch = aws_lambda_function.batch[0] } :
      function.logging_config[0].log_group == aws_cloudwatch_log_group.function[key].name && function.function_name == "model-router-${key}"
    ])
    error_message = "Each function logs to its own log group."
  }
}

run "api_url_has_no_trailing_slash" {
  command = plan

  override_resource {
    target          = aws_apigatewayv2_stage.default
    override_during = plan
    values          = { invoke_url = "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/" }
  }

  assert {
    condition     = output.api_url == "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com"
    error_message = "api_url is the stage's invoke_url without its trailing slash."
  }

  assert {
    condition     = "${output.api_url}/models/iris/predict" == "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/models/iris/predict"
    error_message = "The documented \"$url/models/<name>/predict\" must not build //models."
  }
}

run "lambda_never_filters_out_metrics" {
  command = plan

  variables {
    log_level = "ERROR"
  }

  # Lambda drops lines without a level above INFO, and EMF documents have none: the
  # function filters by ROUTER_LOG_LEVEL instead.
  assert {
    condition = alltrue([
      for function in [aws_lambda_function.router, aws_lambda_function.inbox] :
      function.logging_config[0].application_log_level == "INFO" && function.environment[0].variables["ROUTER_LOG_LEVEL"] == "ERROR"
    ])
    error_message = "With log_level ERROR, Lambda filters at INFO and the functions at ERROR."
  }
}

run "docs_routes_on_request" {
  command = plan

  variables {
    expose_api_docs = true
  }

  assert {
    condition     = contains(keys(aws_apigatewayv2_route.this), "GET /docs") && contains(keys(aws_apigatewayv2_route.this), "GET /openapi.json")
    error_message = "expose_api_docs routes /docs and /openapi.json."
  }

  assert {
    condition     = aws_apigatewayv2_route.this["GET /docs"].authorization_type == "AWS_IAM"
    error_message = "The documentation routes take the API's authorization like every route."
  }
}

run "az_count_above_the_regions_zones_is_explained" {
  command = plan

  # The mocked Region has three zones.
  variables {
    az_count = 4
  }

  expect_failures = [aws_subnet.private]
}

run "rejects_a_package_for_another_architecture" {
  command = plan

  # tests/infra/test_terraform.py records the package as x86_64.
  variables {
    architecture = "arm64"
  }

  # The router's precondition checks the package all the functions run.
  expect_failures = [aws_lambda_function.router]
}

run "provisioned_concurrency_on_the_alias" {
  command = plan

  variables {
    router_reserved_concurrency    = 10
    router_provisioned_concurrency = 2
  }

  assert {
    condition     = aws_lambda_provisioned_concurrency_config.router[0].provisioned_concurrent_executions == 2
    error_message = "Provisioned concurrency follows router_provisioned_concurrency."
  }

  assert {
    condition     = aws_lambda_provisioned_concurrency_config.router[0].qualifier == aws_lambda_alias.router.name
    error_message = "Provisioned concurrency must sit on the alias the API invokes."
  }
}

run "openmp_threads_follow_router_nthread" {
  command = plan

  variables {
    router_environment = { ROUTER_NTHREAD = "2" }
  }

  assert {
    condition     = aws_lambda_function.router.environment[0].variables["OMP_NUM_THREADS"] == "2"
    error_message = "OMP_NUM_THREADS caps XGBoost's threads, so it must follow ROUTER_NTHREAD."
  }

  assert {
    condition     = aws_lambda_function.inbox.environment[0].variables["OMP_NUM_THREADS"] == "1"
    error_message = "The inbox keeps one OpenMP thread."
  }
}

run "jwt_authorizer" {
  command = plan

  variables {
    api_authorization = "JWT"
    jwt_issuer        = "https://issuer.example.com/"
    jwt_audience      = ["model-router"]
  }

  assert {
    condition     = length(aws_apigatewayv2_authorizer.jwt) == 1
    error_message = "JWT mode creates the authorizer."
  }

  assert {
    condition     = alltrue([for route in aws_apigatewayv2_route.this : route.authorization_type == "JWT"])
    error_message = "JWT mode applies to every route."
  }
}

run "optional_nat_and_flow_logs" {
  command = plan

  variables {
    enable_nat_gateway = true
    enable_flow_logs   = true
    az_count           = 3
  }

  assert {
    condition     = length(aws_nat_gateway.this) == 1 && length(aws_route.private_internet) == 1 && length(aws_flow_log.this) == 1
    error_message = "enable_nat_gateway and enable_flow_logs add their resources."
  }

  assert {
    condition     = length(aws_efs_mount_target.this) == 3
    error_message = "One mount target per Availability Zone."
  }
}

run "router_environment_cannot_move_the_model_root" {
  command = plan

  variables {
    router_environment = { ROUTER_CACHE_MAX_MODELS = "8" }
    efs_mount_path     = "/mnt/store"
  }

  assert {
    condition     = aws_lambda_function.router.environment[0].variables["ROUTER_CACHE_MAX_MODELS"] == "8"
    error_message = "router_environment reaches the function."
  }

  assert {
    condition     = aws_lambda_function.router.environment[0].variables["ROUTER_MODEL_ROOT"] == "/mnt/store"
    error_message = "ROUTER_MODEL_ROOT follows efs_mount_path."
  }
}

# ---------------------------------------------------------------------------------------
# Values the AWS APIs would reject fail at plan time, with the variable named.
# ---------------------------------------------------------------------------------------

# One plan, every variable wrong at once: each must report its own failure.
run "rejects_values_aws_would_reject" {
  command = plan

  variables {
    router_memory_mb   = 10241
    inbox_memory_mb    = 127
    router_timeout_s   = 31 # longer than the HTTP API waits
    inbox_timeout_s    = 901
    efs_mount_path     = "/models"
    log_retention_days = 45
    api_authorization  = "COGNITO"
    architecture       = "arm"
    az_count           = 1
    efs_posix_uid      = 0
    router_environment = { ROUTER_MODEL_ROOT = "/tmp" }
  }

  expect_failures = [
    var.router_memory_mb,
    var.inbox_memory_mb,
    var.router_timeout_s,
    var.inbox_timeout_s,
    var.efs_mount_path,
    var.log_retention_days,
    var.api_authorization,
    var.architecture,
    var.az_count,
    var.efs_posix_uid,
    var.router_environment,
  ]
}

run "rejects_a_name_starting_sg" {
  command = plan
  variables { name = "sg-models" }
  expect_failures = [var.name]
}

run "rejects_a_name_starting_xn" {
  command = plan
  variables { name = "xn--models" }
  expect_failures = [var.name]
}

run "rejects_a_name_starting_sthree" {
  command = plan
  variables { name = "sthree-models" }
  expect_failures = [var.name]
}

run "rejects_a_bucket_name_shaped_like_an_ip_address" {
  command = plan
  variables { inbox_bucket_name = "192.168.10.20" }
  expect_failures = [var.inbox_bucket_name]
}

run "rejects_a_bucket_name_with_adjacent_periods" {
  command = plan
  variables { inbox_bucket_name = "models..inbox" }
  expect_failures = [var.inbox_bucket_name]
}

run "rejects_a_bucket_name_with_a_reserved_prefix" {
  command = plan
  variables { inbox_bucket_name = "xn--models-inbox" }
  expect_failures = [var.inbox_bucket_name]
}

run "accepts_a_dotted_bucket_name" {
  command = plan
  variables { inbox_bucket_name = "models.inbox.example" }

  assert {
    condition     = aws_s3_bucket.inbox.bucket == "models.inbox.example"
    error_message = "A bucket name with single dots is valid."
  }
}

run "rejects_nested_mount_path" {
  command = plan
  variables { efs_mount_path = "/mnt/models/v1" }
  expect_failures = [var.efs_mount_path]
}

run "rejects_jwt_without_issuer" {
  command = plan

  variables {
    api_authorization = "JWT"
    jwt_audience      = ["model-router"]
  }

  expect_failures = [var.jwt_issuer]
}

run "rejects_provisioned_above_reserved_concurrency" {
  command = plan

  variables {
    router_reserved_concurrency    = 2
    router_provisioned_concurrency = 3
  }

  expect_failures = [var.router_provisioned_concurrency]
}

run "rejects_a_missing_package" {
  command = plan
  variables { package_path = "does-not-exist.zip" }
  # The router's precondition checks the package all the functions run.
  expect_failures = [aws_lambda_function.router]
}

run "batch_can_be_turned_off" {
  command = plan
  variables { enable_batch = false }

  assert {
    condition = (
      length(aws_sfn_state_machine.batch) == 0 && length(aws_lambda_function.batch) == 0 &&
      length(aws_s3_bucket.batch) == 0 && length(aws_cloudwatch_event_rule.batch) == 0 &&
      !contains(keys(aws_cloudwatch_metric_alarm.this), "batch-failed-executions") &&
      keys(aws_iam_role.function) == ["inbox", "router"] && keys(aws_cloudwatch_log_group.function) == ["inbox", "router"]
    )
    error_message = "enable_batch = false builds no batch resource and no batch alarm."
  }
}

run "batch_alarms_watch_the_state_machine" {
  command = plan

  assert {
    condition     = aws_cloudwatch_metric_alarm.this["batch-failed-executions"].metric_name == "ExecutionsFailed"
    error_message = "A failed batch execution raises an alarm."
  }
}

run "dashboard_panels_tile_two_a_row" {
  command = plan

  # The API's id is known only after apply; the dashboard's body names it.
  override_resource {
    target          = aws_apigatewayv2_api.this
    override_during = plan
    values          = { id = "a1b2c3d4e5" }
  }

  assert {
    condition = (
      [for widget in jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets : [widget.x, widget.y, widget.width, widget.height]] ==
      [for index in range(10) : [12 * (index % 2), 6 * floor(index / 2), 12, 6]]
    )
    error_message = "Six metric panels, then the four saved queries' tables, 12 x 6 each, two a row."
  }

  assert {
    condition = alltrue([
      for widget in jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets :
      widget.type == "log" ? !contains(keys(widget.properties), "period") : widget.properties.period == 300 && widget.properties.region == "eu-west-1"
    ])
    error_message = "Every metric panel plots 5-minute periods in the deployment's Region; log panels take no period."
  }

  assert {
    condition = (
      !contains(keys(jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets[1].properties), "stat") &&
      jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets[0].properties.stat == "Sum"
    )
    error_message = "A panel without a shared statistic leaves stat out, so each metric's own applies."
  }
}
