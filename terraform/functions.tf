# What the three functions (router, inbox and, with var.enable_batch, batch) share, one
# instance per entry of local.functions: a log group, an execution role, and a role policy
# whose statements are the function's own (iam.tf, batch.tf) followed by what every
# function in the VPC needs: write its own logs and manage its network interfaces.

locals {
  # Keys name the instances: aws_iam_role.function["inbox"]. The batch function runs in
  # the inbox's security group (batch.tf says why).
  all_functions = {
    router = {
      name               = local.router_function_name
      log_group_name     = local.router_log_group_name
      security_group_arn = aws_security_group.router.arn
    }
    inbox = {
      name               = local.inbox_function_name
      log_group_name     = local.inbox_log_group_name
      security_group_arn = aws_security_group.inbox.arn
    }
    batch = {
      name               = local.batch_function_name
      log_group_name     = local.batch_log_group_name
      security_group_arn = aws_security_group.inbox.arn
    }
  }
  functions = { for key, function in local.all_functions : key => function if key != "batch" || var.enable_batch }

  # Each function's own statements: what it does with EFS, S3, KMS and SQS.
  function_permissions = {
    router = data.aws_iam_policy_document.router.json
    inbox  = data.aws_iam_policy_document.inbox.json
    batch  = one(data.aws_iam_policy_document.batch[*].json)
  }

  # Lambda creates, describes and deletes the functions' ENIs with the execution role.
  # Describe* cannot be scoped to resources; the rest is scoped to this account and Region,
  # and creation to our subnets and security groups.
  network_interface_arn = "arn:${local.partition}:ec2:${local.region}:${local.account_id}:network-interface/*"
  subnet_arns           = [for subnet in aws_subnet.private : subnet.arn]
}

resource "aws_cloudwatch_log_group" "function" {
  #checkov:skip=CKV_AWS_338:Retention is var.log_retention_days (default 30 days, to bound cost); set 365 or more where a year of logs is required.
  for_each = local.functions

  name              = each.value.log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
}

resource "aws_iam_role" "function" {
  for_each = local.functions

  name               = "${var.name}-${each.key}"
  description        = "Execution role of ${each.value.name}"
  assume_role_policy = data.aws_iam_policy_document.assume_role["lambda"].json
}

resource "aws_iam_role_policy" "function" {
  for_each = local.functions

  name   = each.key
  role   = aws_iam_role.function[each.key].id
  policy = data.aws_iam_policy_document.function[each.key].json
}

data "aws_iam_policy_document" "function" {
  for_each = local.functions

  source_policy_documents = [local.function_permissions[each.key]]

  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function[each.key].arn}:*"]
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
      [local.network_interface_arn, each.value.security_group_arn],
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

# Where these resources were before they were one per function: an existing deployment
# moves them in its state instead of destroying and recreating them.
moved {
  from = aws_cloudwatch_log_group.router
  to   = aws_cloudwatch_log_group.function["router"]
}

moved {
  from = aws_cloudwatch_log_group.inbox
  to   = aws_cloudwatch_log_group.function["inbox"]
}

moved {
  from = aws_cloudwatch_log_group.batch[0]
  to   = aws_cloudwatch_log_group.function["batch"]
}

moved {
  from = aws_iam_role.router
  to   = aws_iam_role.function["router"]
}

moved {
  from = aws_iam_role.inbox
  to   = aws_iam_role.function["inbox"]
}

moved {
  from = aws_iam_role.batch[0]
  to   = aws_iam_role.function["batch"]
}

moved {
  from = aws_iam_role_policy.router
  to   = aws_iam_role_policy.function["router"]
}

moved {
  from = aws_iam_role_policy.inbox
  to   = aws_iam_role_policy.function["inbox"]
}

moved {
  from = aws_iam_role_policy.batch[0]
  to   = aws_iam_role_policy.function["batch"]
}
