# One customer managed key encrypts everything at rest: EFS, the inbox bucket, the dead
# letter queue and the log groups.

resource "aws_kms_key" "this" {
  description             = "${var.name}: EFS, model inbox, dead letters and logs"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.this.key_id
}

data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_109:A key policy's "*" resource is the key itself; the account root statement is what lets IAM policies grant use of it.
  #checkov:skip=CKV_AWS_111:A key policy's "*" resource is the key itself; the account root statement is what lets IAM policies grant use of it.
  #checkov:skip=CKV_AWS_356:A key policy's "*" resource is the key itself; the account root statement is what lets IAM policies grant use of it.
  statement {
    sid       = "AccountAdministersKey"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid = "CloudWatchLogsEncryptsOurLogGroups"
    actions = [
      "kms:Encrypt*",
      "kms:Decrypt*",
      "kms:ReEncrypt*",
      "kms:GenerateDataKey*",
      "kms:Describe*",
    ]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values = [
        for name in [
          local.router_log_group_name,
          local.inbox_log_group_name,
          local.batch_log_group_name,
          local.api_log_group_name,
          local.flow_log_group_name,
        ] : "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${name}"
      ]
    }
  }
}
