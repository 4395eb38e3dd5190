# The router: FastAPI behind Mangum, reading models from EFS, published as versions behind
# a "live" alias that API Gateway invokes (and that carries provisioned concurrency).

resource "aws_lambda_function" "router" {
  #checkov:skip=CKV_AWS_116:Invoked synchronously by API Gateway; a failed request is answered to the caller, so there is nothing to dead-letter.
  #checkov:skip=CKV_AWS_272:Code signing needs an AWS Signer profile; the package is built and deployed by this project's own scripts.
  #checkov:skip=CKV_AWS_173:The environment holds only non-secret settings, encrypted at rest with Lambda's service key; a customer key would need kms:Decrypt in a role kept to EFS, logs and ENIs.
  #checkov:skip=CKV_AWS_50:X-Ray is not enabled: observability is EMF metrics and JSON logs, and tracing would widen the role beyond EFS, logs and ENIs.
  function_name = local.router_function_name
  description   = "Model Router: serves XGBoost models from EFS"
  role          = aws_iam_role.function["router"].arn
  handler       = "router.lambda_handler.handler"
  runtime       = local.lambda_runtime
  architectures = [var.architecture]
  memory_size   = var.router_memory_mb
  timeout       = var.router_timeout_s
  publish       = true

  filename         = local.package_path
  source_code_hash = local.package_hash

  reserved_concurrent_executions = var.router_reserved_concurrency

  vpc_config {
    subnet_ids         = aws_subnet.private[*].id
    security_group_ids = [aws_security_group.router.id]
  }

  file_system_config {
    arn              = aws_efs_access_point.this.arn
    local_mount_path = local.model_root
  }

  environment {
    variables = local.router_environment
  }

  logging_config {
    log_format            = "JSON"
    log_group             = aws_cloudwatch_log_group.function["router"].name
    application_log_level = local.lambda_application_log_level
  }

  # Checked once, here, for the package every function runs.
  lifecycle {
    precondition {
      condition     = local.package_exists
      error_message = "No Lambda package at ${local.package_path}: build it with `make package ARCH=${var.architecture}` first."
    }

    precondition {
      condition     = !local.package_exists || local.package_matches_architecture
      error_message = "${local.package_path} is not a package for ${var.architecture}: ${local.package_problem}. Rebuild it with `make package ARCH=${var.architecture}`, or set architecture to match."
    }
  }

  # The function cannot start until EFS is reachable in every subnet it may run in.
  depends_on = [
    aws_efs_mount_target.this,
    aws_iam_role_policy.function,
    aws_vpc_security_group_ingress_rule.efs_from_router,
  ]
}

resource "aws_lambda_alias" "router" {
  name             = "live"
  description      = "The version API Gateway invokes"
  function_name    = aws_lambda_function.router.function_name
  function_version = aws_lambda_function.router.version
}

resource "aws_lambda_provisioned_concurrency_config" "router" {
  count = var.router_provisioned_concurrency > 0 ? 1 : 0

  function_name                     = aws_lambda_alias.router.function_name
  qualifier                         = aws_lambda_alias.router.name
  provisioned_concurrent_executions = var.router_provisioned_concurrency
}

resource "aws_lambda_permission" "api" {
  statement_id  = "AllowHttpApiInvoke"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.router.function_name
  qualifier     = aws_lambda_alias.router.name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.this.execution_arn}/*/*"
}
