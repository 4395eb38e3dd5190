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
    condition     = length(aws_apigatewayv2_authorizer.jwt) == 0 && length(aws_lambda_provisioned_concurrency_config.router) == 0
    error_message = "No JWT authorizer and no provisioned concurrency by default."
  }

  assert {
    condition     = aws_efs_access_point.this.root_directory[0].path == "/models" && aws_efs_access_point.this.posix_user[0].uid == 1000
    error_message = "The access point roots at /models as uid 1000."
  }
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
  expect_failures = [aws_lambda_function.router, aws_lambda_function.inbox]
}
