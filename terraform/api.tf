# An HTTP API in front of the router's live alias: one route per endpoint of the FastAPI
# app (tests/infra compares them with the app's own route table), so anything else is a
# 404 from API Gateway without invoking the function.

locals {
  api_routes = [
    "GET /health",
    "GET /models",
    "GET /models/{name}",
    "POST /models/{name}/predict",
    "GET /models/{name}/versions",
    "POST /models/{name}/versions/{version}/predict",
    "GET /v2",
    "GET /v2/health/live",
    "GET /v2/health/ready",
    "GET /v2/models/{name}",
    "GET /v2/models/{name}/ready",
    "POST /v2/models/{name}/infer",
    "GET /v2/models/{name}/versions/{version}",
    "GET /v2/models/{name}/versions/{version}/ready",
    "POST /v2/models/{name}/versions/{version}/infer",
  ]
  # The app answers HEAD as it answers GET (router/api/head.py), but API Gateway routes a
  # method only when a route names it: without these, `curl -I .../health` met a 404.
  api_head_routes = [
    for route in local.api_routes : "HEAD ${trimprefix(route, "GET ")}" if startswith(route, "GET ")
  ]
  # A browser cannot sign SigV4 requests, and the schema tells a stranger every route, so
  # the documentation is routed only when var.expose_api_docs asks for it.
  # Swagger UI's own files come from the router too when it has them (router/api/docs.py).
  api_docs_routes = [
    "GET /openapi.json",
    "GET /docs",
    "GET /docs/swagger-ui-bundle.js",
    "GET /docs/swagger-ui.css",
    "GET /docs/favicon.png",
  ]
}

resource "aws_apigatewayv2_api" "this" {
  name          = var.name
  description   = "Model Router: XGBoost models behind one endpoint"
  protocol_type = "HTTP"
}

resource "aws_apigatewayv2_integration" "router" {
  api_id                 = aws_apigatewayv2_api.this.id
  description            = "The router function's live alias"
  integration_type       = "AWS_PROXY"
  integration_method     = "POST"
  integration_uri        = aws_lambda_alias.router.invoke_arn
  payload_format_version = "2.0"
  timeout_milliseconds   = 30000
}

resource "aws_apigatewayv2_authorizer" "jwt" {
  count = var.api_authorization == "JWT" ? 1 : 0

  api_id           = aws_apigatewayv2_api.this.id
  name             = "${var.name}-jwt"
  authorizer_type  = "JWT"
  identity_sources = ["$request.header.Authorization"]

  jwt_configuration {
    issuer   = var.jwt_issuer
    audience = var.jwt_audience
  }
}

resource "aws_apigatewayv2_route" "this" {
  for_each = toset(concat(local.api_routes, local.api_head_routes, var.expose_api_docs ? local.api_docs_routes : []))

  api_id             = aws_apigatewayv2_api.this.id
  route_key          = each.value
  target             = "integrations/${aws_apigatewayv2_integration.router.id}"
  authorization_type = var.api_authorization
  authorizer_id      = var.api_authorization == "JWT" ? aws_apigatewayv2_authorizer.jwt[0].id : null
}

resource "aws_cloudwatch_log_group" "api" {
  #checkov:skip=CKV_AWS_338:Retention is var.log_retention_days (default 30 days, to bound cost); set 365 or more where a year of logs is required.
  name              = local.api_log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
}

resource "aws_apigatewayv2_stage" "default" {
  api_id      = aws_apigatewayv2_api.this.id
  name        = "$default"
  description = "Deploys every change of the routes at once"
  auto_deploy = true

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.api.arn
    format = jsonencode({
      requestId          = "$context.requestId"
      requestTime        = "$context.requestTime"
      sourceIp           = "$context.identity.sourceIp"
      caller             = "$context.identity.userArn"
      routeKey           = "$context.routeKey"
      path               = "$context.path"
      status             = "$context.status"
      protocol           = "$context.protocol"
      responseLength     = "$context.responseLength"
      responseLatency    = "$context.responseLatency"
      integrationLatency = "$context.integrationLatency"
      integrationError   = "$context.integrationErrorMessage"
      authorizerError    = "$context.authorizer.error"
    })
  }

  default_route_settings {
    throttling_rate_limit  = var.api_throttling_rate_limit
    throttling_burst_limit = var.api_throttling_burst_limit
  }
}
