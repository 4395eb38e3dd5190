# Alarms on what needs a person: router errors, throttles and slow requests; inbox errors
# and events that ended in the dead letter queue.

locals {
  alarm_defaults = {
    period              = 300
    evaluation_periods  = 1
    comparison_operator = "GreaterThanOrEqualToThreshold"
    treat_missing_data  = "notBreaching"
  }
}

resource "aws_cloudwatch_metric_alarm" "router_errors" {
  alarm_name          = "${local.router_function_name}-errors"
  alarm_description   = "The router function failed (unhandled error or timeout) in the last 5 minutes."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.router.function_name }
  statistic           = "Sum"
  threshold           = 1
  period              = local.alarm_defaults.period
  evaluation_periods  = local.alarm_defaults.evaluation_periods
  comparison_operator = local.alarm_defaults.comparison_operator
  treat_missing_data  = local.alarm_defaults.treat_missing_data
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "router_throttles" {
  alarm_name          = "${local.router_function_name}-throttles"
  alarm_description   = "Requests to the router were throttled in the last 5 minutes: raise its concurrency."
  namespace           = "AWS/Lambda"
  metric_name         = "Throttles"
  dimensions          = { FunctionName = aws_lambda_function.router.function_name }
  statistic           = "Sum"
  threshold           = 1
  period              = local.alarm_defaults.period
  evaluation_periods  = local.alarm_defaults.evaluation_periods
  comparison_operator = local.alarm_defaults.comparison_operator
  treat_missing_data  = local.alarm_defaults.treat_missing_data
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "router_duration_p99" {
  alarm_name          = "${local.router_function_name}-duration-p99"
  alarm_description   = "The router's p99 duration over 5 minutes is above ${var.router_p99_duration_alarm_ms} ms."
  namespace           = "AWS/Lambda"
  metric_name         = "Duration"
  dimensions          = { FunctionName = aws_lambda_function.router.function_name }
  extended_statistic  = "p99"
  threshold           = var.router_p99_duration_alarm_ms
  period              = local.alarm_defaults.period
  evaluation_periods  = local.alarm_defaults.evaluation_periods
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = local.alarm_defaults.treat_missing_data
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "inbox_errors" {
  alarm_name          = "${local.inbox_function_name}-errors"
  alarm_description   = "The inbox function failed to write a model in the last 5 minutes (it retries twice)."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.inbox.function_name }
  statistic           = "Sum"
  threshold           = 1
  period              = local.alarm_defaults.period
  evaluation_periods  = local.alarm_defaults.evaluation_periods
  comparison_operator = local.alarm_defaults.comparison_operator
  treat_missing_data  = local.alarm_defaults.treat_missing_data
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "inbox_dead_letters" {
  alarm_name          = "${local.inbox_function_name}-dead-letters"
  alarm_description   = "Inbox events gave up after their retries and wait in ${aws_sqs_queue.inbox_dead_letters.name}."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.inbox_dead_letters.name }
  statistic           = "Maximum"
  threshold           = 1
  period              = local.alarm_defaults.period
  evaluation_periods  = local.alarm_defaults.evaluation_periods
  comparison_operator = local.alarm_defaults.comparison_operator
  treat_missing_data  = local.alarm_defaults.treat_missing_data
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
}
