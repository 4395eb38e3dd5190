# Batch predictions (docs/batch.md): a file created under batch/<model>/ of the batch bucket
# starts, through EventBridge, a Step Functions state machine whose Distributed Map reads
# the file's rows and has the batch function predict them in parallel parts. Everything
# here exists only while var.enable_batch is true.

locals {
  batch_count              = var.enable_batch ? 1 : 0
  batch_function_name      = "${var.name}-batch"
  batch_log_group_name     = "/aws/lambda/${local.batch_function_name}"
  batch_state_machine_name = "${var.name}-batch"
  # Built from parts, not from the resource: the state machine's own role names it.
  batch_state_machine_arn = "arn:${local.partition}:states:${local.region}:${local.account_id}:stateMachine:${local.batch_state_machine_name}"
  batch_execution_arns    = "arn:${local.partition}:states:${local.region}:${local.account_id}:execution:${local.batch_state_machine_name}:*"
  batch_map_run_arns      = "arn:${local.partition}:states:${local.region}:${local.account_id}:mapRun:${local.batch_state_machine_name}/*"

  # Inputs under batch/, results under results/ (router.batch.bucket): writing results
  # never starts another job.
  batch_input_prefix   = "batch/"
  batch_results_prefix = "results/"

  batch_environment = merge(local.thread_environment, {
    ROUTER_MODEL_ROOT        = local.model_root
    ROUTER_LOG_LEVEL         = var.log_level
    ROUTER_METRICS_NAMESPACE = var.metrics_namespace
  })
}

# ---------------------------------------------------------------------------------------
# The batch bucket
# ---------------------------------------------------------------------------------------

resource "aws_s3_bucket" "batch" {
  #checkov:skip=CKV_AWS_18:Server access logs would need a second bucket; every job is recorded by its execution history and manifest.
  #checkov:skip=CKV_AWS_144:Inputs and results are transient copies of data kept elsewhere; results expire after var.batch_results_days.
  count = local.batch_count

  bucket        = var.batch_bucket_name
  bucket_prefix = var.batch_bucket_name == null ? "${var.name}-batch-" : null
  force_destroy = var.batch_force_destroy
}

resource "aws_s3_bucket_public_access_block" "batch" {
  count = local.batch_count

  bucket                  = aws_s3_bucket.batch[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "batch" {
  count = local.batch_count

  bucket = aws_s3_bucket.batch[0].id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "batch" {
  count = local.batch_count

  bucket = aws_s3_bucket.batch[0].id

  rule {
    bucket_key_enabled = true

    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.this.arn
    }
  }
}

# Versioned: a job reads the exact input version that started it, and its manifest names it.
resource "aws_s3_bucket_versioning" "batch" {
  count = local.batch_count

  bucket = aws_s3_bucket.batch[0].id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "batch" {
  count = local.batch_count

  bucket = aws_s3_bucket.batch[0].id

  rule {
    id     = "expire-results"
    status = "Enabled"

    filter {
      prefix = local.batch_results_prefix
    }

    expiration {
      days = var.batch_results_days
    }
  }

  rule {
    id     = "expire-old-versions"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.batch_results_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.batch]
}

resource "aws_s3_bucket_policy" "batch" {
  count = local.batch_count

  bucket = aws_s3_bucket.batch[0].id
  policy = data.aws_iam_policy_document.batch_bucket[0].json

  depends_on = [aws_s3_bucket_public_access_block.batch]
}

data "aws_iam_policy_document" "batch_bucket" {
  count = local.batch_count

  statement {
    sid       = "DenyWithoutTls"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.batch[0].arn, "${aws_s3_bucket.batch[0].arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

# S3 sends every event of this bucket to EventBridge; the rule below picks the inputs.
resource "aws_s3_bucket_notification" "batch" {
  count = local.batch_count

  bucket      = aws_s3_bucket.batch[0].id
  eventbridge = true
}

# ---------------------------------------------------------------------------------------
# The batch function: the router's registry and predictor, EFS mounted read-only
# ---------------------------------------------------------------------------------------

resource "aws_lambda_function" "batch" {
  #checkov:skip=CKV_AWS_116:Invoked synchronously by the state machine, which retries each part and records failures in its execution history.
  #checkov:skip=CKV_AWS_272:Code signing needs an AWS Signer profile; the package is built and deployed by this project's own scripts.
  #checkov:skip=CKV_AWS_173:The environment holds only non-secret settings, encrypted at rest with Lambda's service key.
  #checkov:skip=CKV_AWS_50:X-Ray is not enabled: observability is JSON logs, the execution history and alarms.
  count = local.batch_count

  function_name = local.batch_function_name
  description   = "Model Router batch: predicts parts of batch jobs with models from EFS"
  role          = aws_iam_role.function["batch"].arn
  handler       = "router.batch.lambda_handler.handler"
  runtime       = local.lambda_runtime
  architectures = [var.architecture]
  memory_size   = var.batch_memory_mb
  timeout       = var.batch_timeout_s

  filename         = local.package_path
  source_code_hash = local.package_hash

  # Unreserved by default, as the router and inbox are: a reservation must leave 100 of the
  # account's quota unreserved, which a new account (quota 10) cannot. The map's
  # MaxConcurrency bounds what one job runs at once either way.
  reserved_concurrent_executions = var.batch_reserved_concurrency

  # The inbox's group has exactly the reach this function needs: NFS to EFS and HTTPS to
  # the S3 endpoint. EFS's policy and this role keep it read-only on EFS.
  vpc_config {
    subnet_ids         = aws_subnet.private[*].id
    security_group_ids = [aws_security_group.inbox.id]
  }

  file_system_config {
    arn              = aws_efs_access_point.this.arn
    local_mount_path = local.model_root
  }

  environment {
    variables = local.batch_environment
  }

  logging_config {
    log_format            = "JSON"
    log_group             = aws_cloudwatch_log_group.function["batch"].name
    application_log_level = local.lambda_application_log_level
  }

  # No precondition on the package: the router's stops the plan for every function.
  depends_on = [
    aws_efs_mount_target.this,
    aws_iam_role_policy.function,
    aws_vpc_security_group_ingress_rule.efs_from_inbox,
  ]
}

data "aws_iam_policy_document" "batch" {
  count = local.batch_count

  statement {
    sid       = "ReadModels"
    actions   = ["elasticfilesystem:ClientMount"]
    resources = [aws_efs_file_system.this.arn]

    condition {
      test     = "StringEquals"
      variable = "elasticfilesystem:AccessPointArn"
      values   = [aws_efs_access_point.this.arn]
    }
  }

  # Prepare reads the object's version and the CSV header.
  statement {
    sid       = "ReadInputs"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${aws_s3_bucket.batch[0].arn}/${local.batch_input_prefix}*"]
  }

  # Parts write their files; finish reads them, writes the job's files and deletes the parts.
  statement {
    sid       = "WriteResults"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = ["${aws_s3_bucket.batch[0].arn}/${local.batch_results_prefix}*"]
  }

  statement {
    sid       = "ListResults"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.batch[0].arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.batch_results_prefix}*"]
    }
  }

  statement {
    sid       = "UseBucketKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.this.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.amazonaws.com"]
    }
  }
}

# ---------------------------------------------------------------------------------------
# The state machine
# ---------------------------------------------------------------------------------------

resource "aws_sfn_state_machine" "batch" {
  #checkov:skip=CKV_AWS_284:X-Ray is not enabled: each execution's history records every state, and failed executions raise an alarm.
  #checkov:skip=CKV_AWS_285:Execution history (kept 90 days) records every job; CloudWatch logging would add log delivery rights on every resource to the role.
  count = local.batch_count

  name     = local.batch_state_machine_name
  role_arn = aws_iam_role.batch_state_machine[0].arn
  type     = "STANDARD"
  definition = templatefile("${path.module}/batch.asl.json", {
    function_arn    = aws_lambda_function.batch[0].arn
    bucket          = aws_s3_bucket.batch[0].id
    rows_per_part   = var.batch_rows_per_part
    bytes_per_part  = var.batch_bytes_per_part
    max_concurrency = var.batch_max_concurrency
  })

  depends_on = [aws_iam_role_policy.batch_state_machine]
}

resource "aws_iam_role" "batch_state_machine" {
  count = local.batch_count

  name               = "${var.name}-batch-state-machine"
  description        = "Role of the ${local.batch_state_machine_name} state machine"
  assume_role_policy = data.aws_iam_policy_document.assume_role["state_machine"].json
}

resource "aws_iam_role_policy" "batch_state_machine" {
  count = local.batch_count

  name   = "batch-state-machine"
  role   = aws_iam_role.batch_state_machine[0].id
  policy = data.aws_iam_policy_document.batch_state_machine[0].json
}

# One statement per need of the definition (terraform/batch.asl.json).
data "aws_iam_policy_document" "batch_state_machine" {
  count = local.batch_count

  # Prepare, each map's part task, and Finish.
  statement {
    sid       = "InvokeBatchFunction"
    actions   = ["lambda:InvokeFunction"]
    resources = [aws_lambda_function.batch[0].arn, "${aws_lambda_function.batch[0].arn}:*"]
  }

  # The maps' ItemReader reads the exact input version.
  statement {
    sid       = "ReadInputs"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${aws_s3_bucket.batch[0].arn}/${local.batch_input_prefix}*"]
  }

  # The maps' ResultWriter.
  statement {
    sid = "WriteMapResults"
    actions = [
      "s3:PutObject",
      "s3:GetObject",
      "s3:ListMultipartUploadParts",
      "s3:AbortMultipartUpload",
    ]
    resources = ["${aws_s3_bucket.batch[0].arn}/${local.batch_results_prefix}*"]
  }

  statement {
    sid       = "UseBucketKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.this.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.amazonaws.com"]
    }
  }

  # A Distributed Map runs its item batches as child executions of this state machine.
  statement {
    sid       = "StartChildWorkflows"
    actions   = ["states:StartExecution"]
    resources = [local.batch_state_machine_arn]
  }

  statement {
    sid       = "ManageChildWorkflows"
    actions   = ["states:DescribeExecution", "states:StopExecution"]
    resources = [local.batch_execution_arns]
  }
}

# ---------------------------------------------------------------------------------------
# Starting a job: S3 "Object Created" under batch/ -> EventBridge -> the state machine
# ---------------------------------------------------------------------------------------

resource "aws_cloudwatch_event_rule" "batch" {
  count = local.batch_count

  name        = "${var.name}-batch-input"
  description = "A file created under ${local.batch_input_prefix} of the batch bucket starts a batch job"
  event_pattern = jsonencode({
    source      = ["aws.s3"]
    detail-type = ["Object Created"]
    detail = {
      bucket = { name = [aws_s3_bucket.batch[0].id] }
      object = { key = [{ prefix = local.batch_input_prefix }] }
    }
  })
}

resource "aws_cloudwatch_event_target" "batch" {
  count = local.batch_count

  rule     = aws_cloudwatch_event_rule.batch[0].name
  arn      = aws_sfn_state_machine.batch[0].arn
  role_arn = aws_iam_role.batch_events[0].arn
}

resource "aws_iam_role" "batch_events" {
  count = local.batch_count

  name               = "${var.name}-batch-events"
  description        = "Lets EventBridge start ${local.batch_state_machine_name}"
  assume_role_policy = data.aws_iam_policy_document.assume_role["events"].json
}

resource "aws_iam_role_policy" "batch_events" {
  count = local.batch_count

  name   = "start-batch-jobs"
  role   = aws_iam_role.batch_events[0].id
  policy = data.aws_iam_policy_document.batch_events[0].json
}

data "aws_iam_policy_document" "batch_events" {
  count = local.batch_count

  statement {
    sid       = "StartBatchJobs"
    actions   = ["states:StartExecution"]
    resources = [aws_sfn_state_machine.batch[0].arn]
  }
}

# ---------------------------------------------------------------------------------------
# Alarms: entries of monitoring.tf's one alarm resource
# ---------------------------------------------------------------------------------------

locals {
  batch_alarms = {
    for key, alarm in {
      "batch-failed-executions" = {
        description = "A batch job failed in the last 5 minutes; its manifest under ${local.batch_results_prefix} says why."
        namespace   = "AWS/States"
        metric_name = "ExecutionsFailed"
        dimensions  = { StateMachineArn = one(aws_sfn_state_machine.batch[*].arn) }
        statistic   = "Sum"
        threshold   = 1
      }
      "batch-timed-out-executions" = {
        description = "A batch job timed out in the last 5 minutes."
        namespace   = "AWS/States"
        metric_name = "ExecutionsTimedOut"
        dimensions  = { StateMachineArn = one(aws_sfn_state_machine.batch[*].arn) }
        statistic   = "Sum"
        threshold   = 1
      }
    } : key => alarm if var.enable_batch
  }
}

# ---------------------------------------------------------------------------------------
# Batch users (a policy for people and pipelines to attach; output batch_user_policy_json)
# ---------------------------------------------------------------------------------------

# What running a job takes (tests/infra/test_batch_policies.py records the calls and checks
# them against this document): upload an input under batch/ (which starts a job), or start
# one on a file already there and follow it (`model-router batch s3://...`: the execution,
# its map run for the progress bar, the manifest), then read the results. Nothing grants
# reading other users' inputs or writing results.
data "aws_iam_policy_document" "batch_user" {
  count = local.batch_count

  statement {
    sid       = "PutInputs"
    actions   = ["s3:PutObject", "s3:AbortMultipartUpload"]
    resources = ["${aws_s3_bucket.batch[0].arn}/${local.batch_input_prefix}*"]
  }

  statement {
    sid       = "ReadResults"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.batch[0].arn}/${local.batch_results_prefix}*"]
  }

  # Listing results (aws s3 cp --recursive, aws s3 ls); also what lets S3 answer 404
  # rather than 403 for a manifest not written yet.
  statement {
    sid       = "ListJobs"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.batch[0].arn]
  }

  statement {
    sid       = "StartJobs"
    actions   = ["states:StartExecution"]
    resources = [local.batch_state_machine_arn]
  }

  statement {
    sid       = "FollowJobs"
    actions   = ["states:DescribeExecution", "states:ListMapRuns"]
    resources = [local.batch_execution_arns]
  }

  statement {
    sid       = "FollowProgress"
    actions   = ["states:DescribeMapRun"]
    resources = [local.batch_map_run_arns]
  }

  # The bucket is SSE-KMS with the module's key: uploads need kms:GenerateDataKey, and
  # multipart uploads (above 8 MiB) and downloads kms:Decrypt.
  statement {
    sid       = "UseBatchKey"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [aws_kms_key.this.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.amazonaws.com"]
    }
  }
}
