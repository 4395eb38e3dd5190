# Roles' trust, and what each function's role may do beyond running (functions.tf adds its
# logs and network interfaces and attaches the whole to its role): the router may mount
# EFS read-only, nothing more; the inbox may also write EFS, read and tag the inbox bucket
# and send to its dead letter queue; the batch function's statements are in batch.tf.
# Below: the optional flow-log role and the policy for uploaders.

# Who may assume each kind of role: its service, and only on behalf of this account (the
# condition keeps another account's resources from making the service act for them).
locals {
  role_services = {
    lambda        = "lambda.amazonaws.com"
    flow_logs     = "vpc-flow-logs.amazonaws.com"
    state_machine = "states.amazonaws.com"
    events        = "events.amazonaws.com"
  }
}

data "aws_iam_policy_document" "assume_role" {
  for_each = local.role_services

  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = [each.value]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

# ---------------------------------------------------------------------------------------
# Router
# ---------------------------------------------------------------------------------------

data "aws_iam_policy_document" "router" {
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
}

# ---------------------------------------------------------------------------------------
# Inbox
# ---------------------------------------------------------------------------------------

data "aws_iam_policy_document" "inbox" {
  statement {
    sid       = "WriteModels"
    actions   = ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"]
    resources = [aws_efs_file_system.this.arn]

    condition {
      test     = "StringEquals"
      variable = "elasticfilesystem:AccessPointArn"
      values   = [aws_efs_access_point.this.arn]
    }
  }

  statement {
    sid       = "ReadInbox"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${aws_s3_bucket.inbox.arn}/${local.inbox_key_prefix}*"]
  }

  # The verdict on each upload (published, rejected and why) is written as tags on the
  # uploaded object version, where the user who uploaded it can read it.
  statement {
    sid = "TagInboxObjects"
    actions = [
      "s3:GetObjectTagging",
      "s3:GetObjectVersionTagging",
      "s3:PutObjectTagging",
      "s3:PutObjectVersionTagging",
    ]
    resources = ["${aws_s3_bucket.inbox.arn}/${local.inbox_key_prefix}*"]
  }

  # Without ListBucket, S3 answers 403 instead of 404 for a missing metadata.json, and every
  # upload without metadata would fail. Limited to the inbox prefix.
  statement {
    sid       = "ListInbox"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.inbox.arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.inbox_key_prefix}*"]
    }
  }

  statement {
    sid       = "DecryptInbox"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.this.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.amazonaws.com"]
    }
  }

  statement {
    sid       = "SendDeadLetters"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.inbox_dead_letters.arn]
  }

  statement {
    sid       = "EncryptDeadLetters"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [aws_kms_key.this.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["sqs.${local.region}.amazonaws.com"]
    }
  }
}

# ---------------------------------------------------------------------------------------
# VPC flow logs (optional)
# ---------------------------------------------------------------------------------------

resource "aws_iam_role" "flow_logs" {
  count = var.enable_flow_logs ? 1 : 0

  name               = "${var.name}-flow-logs"
  description        = "Lets VPC flow logs write to ${local.flow_log_group_name}"
  assume_role_policy = data.aws_iam_policy_document.assume_role["flow_logs"].json
}

resource "aws_iam_role_policy" "flow_logs" {
  count = var.enable_flow_logs ? 1 : 0

  name   = "flow-logs"
  role   = aws_iam_role.flow_logs[0].id
  policy = data.aws_iam_policy_document.flow_logs[0].json
}

data "aws_iam_policy_document" "flow_logs" {
  count = var.enable_flow_logs ? 1 : 0

  statement {
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["${aws_cloudwatch_log_group.flow_logs[0].arn}:*"]
  }
}

# ---------------------------------------------------------------------------------------
# Uploaders (a policy for people and pipelines to attach; output uploader_policy_json)
# ---------------------------------------------------------------------------------------

# What `model-router publish/versions/rollback --bucket` calls (tests/infra/test_policies.py
# records the calls and checks them against this document): upload, read back the
# version and the inbox's verdict tags, list versions, copy an older version back, delete.
# The bucket is encrypted with the key: uploads need kms:GenerateDataKey, and multipart
# uploads (above 8 MiB), downloads and rollback copies need kms:Decrypt as well.
data "aws_iam_policy_document" "uploader" {
  statement {
    sid = "PublishModels"
    actions = [
      "s3:PutObject",
      "s3:GetObject",
      "s3:GetObjectVersion",
      "s3:GetObjectTagging",
      "s3:GetObjectVersionTagging",
      "s3:PutObjectTagging",
      "s3:DeleteObject",
      "s3:AbortMultipartUpload",
    ]
    resources = ["${aws_s3_bucket.inbox.arn}/${local.inbox_key_prefix}*"]
  }

  statement {
    sid       = "ListModels"
    actions   = ["s3:ListBucket", "s3:ListBucketVersions"]
    resources = [aws_s3_bucket.inbox.arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.inbox_key_prefix}*"]
    }
  }

  statement {
    sid       = "UseInboxKey"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [aws_kms_key.this.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.amazonaws.com"]
    }
  }
}
