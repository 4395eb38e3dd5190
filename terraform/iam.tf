# Execution roles. The router may mount EFS read-only, write its own logs and manage its
# network interfaces, nothing more; the inbox may additionally write EFS, read the inbox
# bucket and send to its dead letter queue.

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

locals {
  # Lambda creates, describes and deletes the functions' ENIs with the execution role.
  # Describe* cannot be scoped to resources; the rest is scoped to this account and Region,
  # and creation to our subnets and security groups.
  network_interface_arn = "arn:${local.partition}:ec2:${local.region}:${local.account_id}:network-interface/*"
  subnet_arns           = [for subnet in aws_subnet.private : subnet.arn]
}

# ---------------------------------------------------------------------------------------
# Router
# ---------------------------------------------------------------------------------------

resource "aws_iam_role" "router" {
  name               = "${var.name}-router"
  description        = "Execution role of ${local.router_function_name}"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

resource "aws_iam_role_policy" "router" {
  name   = "router"
  role   = aws_iam_role.router.id
  policy = data.aws_iam_policy_document.router.json
}

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

  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.router.arn}:*"]
  }

  statement {
    sid       = "DescribeNetworkInterfaces"
    actions   = ["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"]
    resources = ["*"]
  }

  statement {
    sid     = "CreateNetworkInterfaces"
    actions = ["ec2:CreateNetworkInterface"]
    resources = concat(
      [local.network_interface_arn, aws_security_group.router.arn],
      local.subnet_arns,
    )
  }

  statement {
    sid = "ManageNetworkInterfaces"
    actions = [
      "ec2:DeleteNetworkInterface",
      "ec2:AssignPrivateIpAddresses",
      "ec2:UnassignPrivateIpAddresses",
    ]
    resources = [local.network_interface_arn]
  }
}

# ---------------------------------------------------------------------------------------
# Inbox
# ---------------------------------------------------------------------------------------

resource "aws_iam_role" "inbox" {
  name               = "${var.name}-inbox"
  description        = "Execution role of ${local.inbox_function_name}"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

resource "aws_iam_role_policy" "inbox" {
  name   = "inbox"
  role   = aws_iam_role.inbox.id
  policy = data.aws_iam_policy_document.inbox.json
}

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

  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.inbox.arn}:*"]
  }

  statement {
    sid       = "DescribeNetworkInterfaces"
    actions   = ["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"]
    resources = ["*"]
  }

  statement {
    sid     = "CreateNetworkInterfaces"
    actions = ["ec2:CreateNetworkInterface"]
    resources = concat(
      [local.network_interface_arn, aws_security_group.inbox.arn],
      local.subnet_arns,
    )
  }

  statement {
    sid = "ManageNetworkInterfaces"
    actions = [
      "ec2:DeleteNetworkInterface",
      "ec2:AssignPrivateIpAddresses",
      "ec2:UnassignPrivateIpAddresses",
    ]
    resources = [local.network_interface_arn]
  }
}

# ---------------------------------------------------------------------------------------
# VPC flow logs (optional)
# ---------------------------------------------------------------------------------------

data "aws_iam_policy_document" "flow_logs_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["vpc-flow-logs.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "flow_logs" {
  count = var.enable_flow_logs ? 1 : 0

  name               = "${var.name}-flow-logs"
  description        = "Lets VPC flow logs write to ${local.flow_log_group_name}"
  assume_role_policy = data.aws_iam_policy_document.flow_logs_assume.json
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
