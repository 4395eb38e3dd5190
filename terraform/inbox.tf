# The model inbox: models uploaded to s3://<bucket>/models/<name>/<file> are validated and
# written onto EFS by the inbox function, the only identity allowed to write there.
# Deleting the object removes the model.

resource "aws_s3_bucket" "inbox" {
  #checkov:skip=CKV_AWS_18:Server access logs would need a second bucket; object writes are visible through the inbox function's logs and CloudTrail.
  #checkov:skip=CKV_AWS_144:The bucket is a transit drop zone; models live on EFS (with AWS Backup), so cross-Region replication adds cost without protecting anything.
  bucket        = var.inbox_bucket_name
  bucket_prefix = var.inbox_bucket_name == null ? "${var.name}-inbox-" : null
  force_destroy = var.inbox_force_destroy
}

resource "aws_s3_bucket_public_access_block" "inbox" {
  bucket                  = aws_s3_bucket.inbox.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "inbox" {
  bucket = aws_s3_bucket.inbox.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "inbox" {
  bucket = aws_s3_bucket.inbox.id

  rule {
    bucket_key_enabled = true

    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.this.arn
    }
  }
}

resource "aws_s3_bucket_versioning" "inbox" {
  bucket = aws_s3_bucket.inbox.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "inbox" {
  bucket = aws_s3_bucket.inbox.id

  # Lifecycle deletions raise s3:LifecycleExpiration events, not s3:ObjectRemoved, so they
  # never remove a model from EFS.
  rule {
    id     = "expire-old-versions"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.inbox_noncurrent_version_days
    }

    expiration {
      expired_object_delete_marker = true
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = var.inbox_abort_incomplete_upload_days
    }
  }

  depends_on = [aws_s3_bucket_versioning.inbox]
}

resource "aws_s3_bucket_policy" "inbox" {
  bucket = aws_s3_bucket.inbox.id
  policy = data.aws_iam_policy_document.inbox_bucket.json

  depends_on = [aws_s3_bucket_public_access_block.inbox]
}

data "aws_iam_policy_document" "inbox_bucket" {
  statement {
    sid       = "DenyWithoutTls"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.inbox.arn, "${aws_s3_bucket.inbox.arn}/*"]

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

resource "aws_s3_bucket_notification" "inbox" {
  bucket = aws_s3_bucket.inbox.id

  lambda_function {
    lambda_function_arn = aws_lambda_function.inbox.arn
    events              = ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]
    filter_prefix       = local.inbox_key_prefix
  }

  depends_on = [aws_lambda_permission.inbox_s3]
}

# ---------------------------------------------------------------------------------------
# The inbox function
# ---------------------------------------------------------------------------------------

resource "aws_lambda_function" "inbox" {
  #checkov:skip=CKV_AWS_116:Failed events go to the on-failure destination in aws_lambda_function_event_invoke_config.inbox, which records the whole invocation; a dead_letter_config would duplicate them.
  #checkov:skip=CKV_AWS_272:Code signing needs an AWS Signer profile; the package is built and deployed by this project's own scripts.
  #checkov:skip=CKV_AWS_173:The environment holds only non-secret settings, encrypted at rest with Lambda's service key.
  #checkov:skip=CKV_AWS_50:X-Ray is not enabled: observability is JSON logs, the dead letter queue and alarms.
  function_name = local.inbox_function_name
  description   = "Model Router inbox: writes models uploaded to S3 onto EFS"
  role          = aws_iam_role.function["inbox"].arn
  handler       = "router.publish.lambda_handler.handler"
  runtime       = local.lambda_runtime
  architectures = [var.architecture]
  memory_size   = var.inbox_memory_mb
  timeout       = var.inbox_timeout_s

  filename         = local.package_path
  source_code_hash = local.package_hash

  reserved_concurrent_executions = var.inbox_reserved_concurrency

  vpc_config {
    subnet_ids         = aws_subnet.private[*].id
    security_group_ids = [aws_security_group.inbox.id]
  }

  file_system_config {
    arn              = aws_efs_access_point.this.arn
    local_mount_path = local.model_root
  }

  environment {
    variables = local.inbox_environment
  }

  logging_config {
    log_format            = "JSON"
    log_group             = aws_cloudwatch_log_group.function["inbox"].name
    application_log_level = local.lambda_application_log_level
  }

  # No precondition on the package: the router's stops the plan for every function.
  depends_on = [
    aws_efs_mount_target.this,
    aws_iam_role_policy.function,
    aws_vpc_security_group_ingress_rule.efs_from_inbox,
    aws_efs_file_system_policy.this,
  ]
}

resource "aws_lambda_permission" "inbox_s3" {
  statement_id   = "AllowInboxBucketNotifications"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.inbox.function_name
  principal      = "s3.amazonaws.com"
  source_arn     = aws_s3_bucket.inbox.arn
  source_account = local.account_id
}

resource "aws_sqs_queue" "inbox_dead_letters" {
  name                              = "${var.name}-inbox-dead-letters"
  message_retention_seconds         = 1209600 # 14 days, the most SQS keeps
  kms_master_key_id                 = aws_kms_key.this.arn
  kms_data_key_reuse_period_seconds = 3600
}

resource "aws_lambda_function_event_invoke_config" "inbox" {
  function_name                = aws_lambda_function.inbox.function_name
  maximum_retry_attempts       = 2
  maximum_event_age_in_seconds = 3600

  destination_config {
    on_failure {
      destination = aws_sqs_queue.inbox_dead_letters.arn
    }
  }
}
