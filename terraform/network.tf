# A VPC whose only purpose is to reach EFS: private subnets, no internet by default, and an
# S3 gateway endpoint so the inbox function can read new models without a NAT gateway.

data "aws_availability_zones" "available" {
  #checkov:skip=CKV_AWS_394:Subnets take the first az_count zones in name order; a new zone gets the next letter and sorts last, so existing subnets never move.
  state = "available"

  filter {
    name   = "opt-in-status"
    values = ["opt-in-not-required"]
  }
}

locals {
  # min(): with fewer zones than az_count, slice() would fail before the subnets'
  # precondition could say why; this way the precondition reports it.
  azs = slice(
    data.aws_availability_zones.available.names, 0,
    min(var.az_count, length(data.aws_availability_zones.available.names)),
  )
}

resource "aws_vpc" "this" {
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true

  tags = { Name = var.name }
}

# Take over the default security group and leave it without rules, so nothing that lands
# in it by accident can talk to anything.
resource "aws_default_security_group" "this" {
  vpc_id = aws_vpc.this.id

  tags = { Name = "${var.name}-default-unused" }
}

resource "aws_subnet" "private" {
  count = var.az_count

  vpc_id                  = aws_vpc.this.id
  availability_zone       = try(local.azs[count.index], null)
  cidr_block              = cidrsubnet(var.vpc_cidr, 4, count.index)
  map_public_ip_on_launch = false

  tags = { Name = "${var.name}-private-${try(local.azs[count.index], count.index)}" }

  lifecycle {
    precondition {
      condition     = length(data.aws_availability_zones.available.names) >= var.az_count
      error_message = "az_count is ${var.az_count}, but this Region has only ${length(data.aws_availability_zones.available.names)} Availability Zones that need no opt-in: lower az_count."
    }
  }
}

resource "aws_route_table" "private" {
  vpc_id = aws_vpc.this.id

  tags = { Name = "${var.name}-private" }
}

resource "aws_route_table_association" "private" {
  count = var.az_count

  subnet_id      = aws_subnet.private[count.index].id
  route_table_id = aws_route_table.private.id
}

resource "aws_vpc_endpoint" "s3" {
  vpc_id            = aws_vpc.this.id
  service_name      = "com.amazonaws.${local.region}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = [aws_route_table.private.id]
  policy            = data.aws_iam_policy_document.s3_endpoint.json

  tags = { Name = "${var.name}-s3" }
}

# Only the inbox bucket is reachable through the endpoint: reading models and tagging them
# with the inbox's verdict, and listing under the inbox prefix.
data "aws_iam_policy_document" "s3_endpoint" {
  statement {
    sid = "UseModelInbox"
    actions = [
      "s3:GetObject",
      "s3:GetObjectVersion",
      "s3:GetObjectTagging",
      "s3:GetObjectVersionTagging",
      "s3:PutObjectTagging",
      "s3:PutObjectVersionTagging",
    ]
    resources = ["${aws_s3_bucket.inbox.arn}/${local.inbox_key_prefix}*"]

    principals {
      type        = "AWS"
      identifiers = ["*"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:PrincipalAccount"
      values   = [local.account_id]
    }
  }

  # With batch predictions (batch.tf), the batch function's inputs and results.
  dynamic "statement" {
    for_each = var.enable_batch ? [aws_s3_bucket.batch[0].arn] : []

    content {
      sid       = "UseBatchBucket"
      actions   = ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListBucket"]
      resources = [statement.value, "${statement.value}/*"]

      principals {
        type        = "AWS"
        identifiers = ["*"]
      }

      condition {
        test     = "StringEquals"
        variable = "aws:PrincipalAccount"
        values   = [local.account_id]
      }
    }
  }

  statement {
    sid       = "ListModelInbox"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.inbox.arn]

    principals {
      type        = "AWS"
      identifiers = ["*"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:PrincipalAccount"
      values   = [local.account_id]
    }
  }
}

# ---------------------------------------------------------------------------------------
# Security groups: each function talks NFS to EFS and nothing else (the inbox also HTTPS to
# S3 through the endpoint); EFS accepts NFS from those two groups only.
# ---------------------------------------------------------------------------------------

resource "aws_security_group" "router" {
  name        = "${var.name}-router"
  description = "Router function: NFS to EFS only"
  vpc_id      = aws_vpc.this.id

  tags = { Name = "${var.name}-router" }
}

resource "aws_security_group" "inbox" {
  name        = "${var.name}-inbox"
  description = "Inbox function: NFS to EFS and HTTPS to S3"
  vpc_id      = aws_vpc.this.id

  tags = { Name = "${var.name}-inbox" }
}

resource "aws_security_group" "efs" {
  name        = "${var.name}-efs"
  description = "EFS mount targets: NFS from the two functions only"
  vpc_id      = aws_vpc.this.id

  tags = { Name = "${var.name}-efs" }
}

resource "aws_vpc_security_group_egress_rule" "router_to_efs" {
  security_group_id            = aws_security_group.router.id
  description                  = "NFS to the model file system"
  ip_protocol                  = "tcp"
  from_port                    = 2049
  to_port                      = 2049
  referenced_security_group_id = aws_security_group.efs.id
}

resource "aws_vpc_security_group_egress_rule" "inbox_to_efs" {
  security_group_id            = aws_security_group.inbox.id
  description                  = "NFS to the model file system"
  ip_protocol                  = "tcp"
  from_port                    = 2049
  to_port                      = 2049
  referenced_security_group_id = aws_security_group.efs.id
}

resource "aws_vpc_security_group_egress_rule" "inbox_to_s3" {
  security_group_id = aws_security_group.inbox.id
  description       = "HTTPS to S3 through the gateway endpoint"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  prefix_list_id    = aws_vpc_endpoint.s3.prefix_list_id
}

resource "aws_vpc_security_group_ingress_rule" "efs_from_router" {
  security_group_id            = aws_security_group.efs.id
  description                  = "NFS from the router function"
  ip_protocol                  = "tcp"
  from_port                    = 2049
  to_port                      = 2049
  referenced_security_group_id = aws_security_group.router.id
}

resource "aws_vpc_security_group_ingress_rule" "efs_from_inbox" {
  security_group_id            = aws_security_group.efs.id
  description                  = "NFS from the inbox function"
  ip_protocol                  = "tcp"
  from_port                    = 2049
  to_port                      = 2049
  referenced_security_group_id = aws_security_group.inbox.id
}

# ---------------------------------------------------------------------------------------
# Optional: outbound internet through one NAT gateway in a small public subnet.
# ---------------------------------------------------------------------------------------

resource "aws_subnet" "public" {
  count = var.enable_nat_gateway ? 1 : 0

  vpc_id                  = aws_vpc.this.id
  availability_zone       = local.azs[0]
  cidr_block              = cidrsubnet(var.vpc_cidr, 4, 15)
  map_public_ip_on_launch = false

  tags = { Name = "${var.name}-public-${local.azs[0]}" }
}

resource "aws_internet_gateway" "this" {
  count = var.enable_nat_gateway ? 1 : 0

  vpc_id = aws_vpc.this.id

  tags = { Name = var.name }
}

resource "aws_route_table" "public" {
  count = var.enable_nat_gateway ? 1 : 0

  vpc_id = aws_vpc.this.id

  tags = { Name = "${var.name}-public" }
}

resource "aws_route" "public_internet" {
  count = var.enable_nat_gateway ? 1 : 0

  route_table_id         = aws_route_table.public[0].id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.this[0].id
}

resource "aws_route_table_association" "public" {
  count = var.enable_nat_gateway ? 1 : 0

  subnet_id      = aws_subnet.public[0].id
  route_table_id = aws_route_table.public[0].id
}

resource "aws_eip" "nat" {
  count = var.enable_nat_gateway ? 1 : 0

  domain = "vpc"

  tags = { Name = "${var.name}-nat" }
}

resource "aws_nat_gateway" "this" {
  count = var.enable_nat_gateway ? 1 : 0

  allocation_id = aws_eip.nat[0].id
  subnet_id     = aws_subnet.public[0].id

  tags = { Name = var.name }

  depends_on = [aws_internet_gateway.this]
}

resource "aws_route" "private_internet" {
  count = var.enable_nat_gateway ? 1 : 0

  route_table_id         = aws_route_table.private.id
  destination_cidr_block = "0.0.0.0/0"
  nat_gateway_id         = aws_nat_gateway.this[0].id
}

resource "aws_vpc_security_group_egress_rule" "router_to_internet" {
  count = var.enable_nat_gateway ? 1 : 0

  security_group_id = aws_security_group.router.id
  description       = "HTTPS to the internet through the NAT gateway"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "inbox_to_internet" {
  count = var.enable_nat_gateway ? 1 : 0

  security_group_id = aws_security_group.inbox.id
  description       = "HTTPS to the internet through the NAT gateway"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

# ---------------------------------------------------------------------------------------
# Optional: VPC flow logs.
# ---------------------------------------------------------------------------------------

resource "aws_flow_log" "this" {
  count = var.enable_flow_logs ? 1 : 0

  vpc_id                   = aws_vpc.this.id
  traffic_type             = "ALL"
  log_destination_type     = "cloud-watch-logs"
  log_destination          = aws_cloudwatch_log_group.flow_logs[0].arn
  iam_role_arn             = aws_iam_role.flow_logs[0].arn
  max_aggregation_interval = 600

  tags = { Name = var.name }
}

resource "aws_cloudwatch_log_group" "flow_logs" {
  #checkov:skip=CKV_AWS_338:Retention is var.log_retention_days (default 30 days, to bound cost); set 365 or more where a year of logs is required.
  count = var.enable_flow_logs ? 1 : 0

  name              = local.flow_log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
}
