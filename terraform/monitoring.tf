# Alarms on what needs a person: router errors, throttles and slow requests; inbox errors,
# events it could not deliver or dropped, and events that ended in the dead letter queue.
# A dashboard and saved Logs Insights queries show which model is slow or failing.

locals {
  # Every alarm fires on one 5-minute period; most at one occurrence.
  alarms = {
    "router-errors" = {
      description = "The router function failed (unhandled error or timeout) in the last 5 minutes."
      namespace   = "AWS/Lambda"
      metric_name = "Errors"
      dimensions  = { FunctionName = aws_lambda_function.router.function_name }
      statistic   = "Sum"
      threshold   = 1
    }
    "router-throttles" = {
      description = "Requests to the router were throttled in the last 5 minutes: raise its concurrency."
      namespace   = "AWS/Lambda"
      metric_name = "Throttles"
      dimensions  = { FunctionName = aws_lambda_function.router.function_name }
      statistic   = "Sum"
      threshold   = 1
    }
    "router-duration-p99" = {
      description = "The router's p99 duration over 5 minutes is above ${var.router_p99_duration_alarm_ms} ms."
      namespace   = "AWS/Lambda"
      metric_name = "Duration"
      dimensions  = { FunctionName = aws_lambda_function.router.function_name }
      statistic   = "p99"
      threshold   = var.router_p99_duration_alarm_ms
    }
    "inbox-errors" = {
      description = "The inbox function failed to write a model in the last 5 minutes (it retries twice)."
      namespace   = "AWS/Lambda"
      metric_name = "Errors"
      dimensions  = { FunctionName = aws_lambda_function.inbox.function_name }
      statistic   = "Sum"
      threshold   = 1
    }
    "inbox-delivery-failures" = {
      description = "Lambda could not send failed inbox events to ${aws_sqs_queue.inbox_dead_letters.name}: they are lost (check the queue's policy and key)."
      namespace   = "AWS/Lambda"
      metric_name = "DestinationDeliveryFailures"
      dimensions  = { FunctionName = aws_lambda_function.inbox.function_name }
      statistic   = "Sum"
      threshold   = 1
    }
    "inbox-events-dropped" = {
      description = "Lambda dropped inbox events without running them (too old or throttled too long): re-upload those models."
      namespace   = "AWS/Lambda"
      metric_name = "AsyncEventsDropped"
      dimensions  = { FunctionName = aws_lambda_function.inbox.function_name }
      statistic   = "Sum"
      threshold   = 1
    }
    "inbox-dead-letters" = {
      description = "Inbox events gave up after their retries and wait in ${aws_sqs_queue.inbox_dead_letters.name}."
      namespace   = "AWS/SQS"
      metric_name = "ApproximateNumberOfMessagesVisible"
      dimensions  = { QueueName = aws_sqs_queue.inbox_dead_letters.name }
      statistic   = "Maximum"
      threshold   = 1
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = merge(local.alarms, local.batch_alarms)

  alarm_name        = "${var.name}-${each.key}"
  alarm_description = each.value.description
  namespace         = each.value.namespace
  metric_name       = each.value.metric_name
  dimensions        = each.value.dimensions
  # Percentiles ("p99") are extended statistics; the rest are plain ones.
  statistic           = startswith(each.value.statistic, "p") ? null : each.value.statistic
  extended_statistic  = startswith(each.value.statistic, "p") ? each.value.statistic : null
  threshold           = each.value.threshold
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
}

moved {
  from = aws_cloudwatch_metric_alarm.router_errors
  to   = aws_cloudwatch_metric_alarm.this["router-errors"]
}

moved {
  from = aws_cloudwatch_metric_alarm.router_throttles
  to   = aws_cloudwatch_metric_alarm.this["router-throttles"]
}

moved {
  from = aws_cloudwatch_metric_alarm.router_duration_p99
  to   = aws_cloudwatch_metric_alarm.this["router-duration-p99"]
}

moved {
  from = aws_cloudwatch_metric_alarm.inbox_errors
  to   = aws_cloudwatch_metric_alarm.this["inbox-errors"]
}

moved {
  from = aws_cloudwatch_metric_alarm.inbox_dead_letters
  to   = aws_cloudwatch_metric_alarm.this["inbox-dead-letters"]
}

# ---------------------------------------------------------------------------------------
# Per-model visibility
# ---------------------------------------------------------------------------------------

locals {
  # The router's EMF metrics carry one dimension, service (router.observability.SERVICE),
  # and no model name: each distinct dimension value is a separate metric billed every
  # month, and a router may serve thousands of models. Per-model numbers come from the
  # router's one "prediction" log line per request, through Logs Insights, at no cost
  # until queried.
  emf_dimensions = { service = "model-router" }
  emf_metrics    = ["CacheHit", "CacheMiss", "CacheEviction", "CacheAdmissionRefused", "ModelLoad", "LoadFailure", "ColdStart"]
  emf_timings    = ["PredictTime", "LoadTime"]

  # Logs Insights over the router's "prediction" lines (fields: model, version, rows,
  # output, status, latency_ms, cache = hit|miss|reload, cold_start, request_id,
  # sample_rate). Successful requests may be sampled (ROUTER_REQUEST_LOG_SAMPLE): a line
  # stands for 1 / sample_rate requests, so counts are sums of that, not count(*).
  prediction_lines = "filter message = \"prediction\""
  model_queries = {
    requests = {
      title = "Requests by model"
      query = "${local.prediction_lines} | stats sum(1 / sample_rate) as requests, sum(rows / sample_rate) as rows by model | sort requests desc | limit 50"
    }
    latency = {
      title = "Latency by model (ms)"
      query = "${local.prediction_lines} | stats sum(1 / sample_rate) as requests, pct(latency_ms, 50) as p50_ms, pct(latency_ms, 99) as p99_ms, max(latency_ms) as max_ms by model | sort p99_ms desc | limit 50"
    }
    errors = {
      title = "Errors by model and status"
      query = "${local.prediction_lines} and status >= 400 | stats count(*) as errors by model, status | sort errors desc | limit 50"
    }
    misses = {
      title = "Cache misses and reloads by model"
      query = "${local.prediction_lines} and cache != \"hit\" | stats sum(1 / sample_rate) as loads, pct(latency_ms, 50) as p50_ms by model, cache | sort loads desc | limit 50"
    }
  }

  # The dashboard's metric panels, each a title, the statistic its metrics share (null
  # where each metric names its own) and its metrics in CloudWatch's form: namespace,
  # name, dimension name and value pairs, then options.
  metric_panels = [
    {
      title   = "Router: invocations, errors, throttles"
      stat    = "Sum"
      metrics = [for metric in ["Invocations", "Errors", "Throttles"] : ["AWS/Lambda", metric, "FunctionName", local.router_function_name]]
    },
    {
      title = "Router: duration (ms) and concurrency"
      stat  = null
      metrics = [
        ["AWS/Lambda", "Duration", "FunctionName", local.router_function_name, { stat = "p50" }],
        ["AWS/Lambda", "Duration", "FunctionName", local.router_function_name, { stat = "p99" }],
        ["AWS/Lambda", "ConcurrentExecutions", "FunctionName", local.router_function_name, { stat = "Maximum", yAxis = "right" }],
      ]
    },
    {
      title   = "Router: cache and loads (EMF)"
      stat    = "Sum"
      metrics = [for metric in local.emf_metrics : [var.metrics_namespace, metric, "service", local.emf_dimensions.service]]
    },
    {
      title   = "Router: predict and load time (ms, p99, EMF)"
      stat    = "p99"
      metrics = [for metric in local.emf_timings : [var.metrics_namespace, metric, "service", local.emf_dimensions.service]]
    },
    {
      title = "API: requests and errors"
      stat  = "Sum"
      metrics = [
        for metric in ["Count", "4xx", "5xx"] :
        ["AWS/ApiGateway", metric, "ApiId", aws_apigatewayv2_api.this.id, "Stage", aws_apigatewayv2_stage.default.name]
      ]
    },
    {
      title = "Inbox: runs, errors, lost events"
      stat  = "Sum"
      metrics = concat(
        [for metric in ["Invocations", "Errors", "DestinationDeliveryFailures", "AsyncEventsDropped"] : ["AWS/Lambda", metric, "FunctionName", local.inbox_function_name]],
        [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", aws_sqs_queue.inbox_dead_letters.name, { stat = "Maximum" }]],
      )
    },
  ]

  # Every panel is 12 x 6, two a row: the metric panels, then a table per saved query.
  dashboard_panels = concat(
    [
      for panel in local.metric_panels : {
        type = "metric"
        # A null stat is left out, so that each metric's own applies.
        properties = { for name, value in {
          title   = panel.title
          region  = local.region
          stat    = panel.stat
          period  = 300
          metrics = panel.metrics
        } : name => value if value != null }
      }
    ],
    [
      for query in values(local.model_queries) : {
        type = "log"
        properties = {
          title  = query.title
          region = local.region
          view   = "table"
          query  = "SOURCE '${aws_cloudwatch_log_group.function["router"].name}' | ${query.query}"
        }
      }
    ],
  )
  dashboard_widgets = [
    for index, panel in local.dashboard_panels : merge(panel, {
      x      = 12 * (index % 2)
      y      = 6 * floor(index / 2)
      width  = 12
      height = 6
    })
  ]
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.name
  dashboard_body = jsonencode({ widgets = local.dashboard_widgets })
}

resource "aws_cloudwatch_query_definition" "model" {
  for_each = local.model_queries

  name            = "${var.name}/${each.value.title}"
  log_group_names = [aws_cloudwatch_log_group.function["router"].name]
  query_string    = "fields @timestamp | ${each.value.query}"
}
