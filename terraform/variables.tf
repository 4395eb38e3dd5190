# ---------------------------------------------------------------------------------------
# General
# ---------------------------------------------------------------------------------------

variable "region" {
  description = "AWS Region to deploy into, for example eu-west-1."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+$", var.region))
    error_message = "region must be an AWS Region code such as eu-west-1."
  }
}

variable "name" {
  description = "Prefix of every resource name (functions are <name>-router and <name>-inbox)."
  type        = string
  default     = "model-router"

  validation {
    # The inbox bucket prefix "<name>-inbox-" must fit S3's 37-character bucket_prefix limit.
    condition     = can(regex("^[a-z][a-z0-9-]{1,28}[a-z0-9]$", var.name))
    error_message = "name must be 3-30 lower-case letters, digits or hyphens, starting with a letter."
  }

  validation {
    # Prefixes the APIs reserve: EC2 security group names may not start with "sg-"; S3
    # bucket names (the inbox is "<name>-inbox-...") may not start with "xn--", "sthree-"
    # or "amzn-s3-demo-".
    condition     = !anytrue([for reserved in ["sg-", "xn--", "sthree-", "amzn-s3-demo-"] : startswith(var.name, reserved)])
    error_message = "name must not start with sg- (EC2 reserves it for security group ids) or xn--, sthree-, amzn-s3-demo- (S3 refuses bucket names starting so)."
  }
}

variable "tags" {
  description = "Tags added to every resource, on top of Project and ManagedBy."
  type        = map(string)
  default     = {}
}

# ---------------------------------------------------------------------------------------
# Network
# ---------------------------------------------------------------------------------------

variable "vpc_cidr" {
  description = "IPv4 CIDR of the VPC; each private subnet gets a /4 slice of it (/20 of a /16)."
  type        = string
  default     = "10.42.0.0/16"

  validation {
    condition = (
      can(cidrhost(var.vpc_cidr, 0)) &&
      tonumber(split("/", var.vpc_cidr)[1]) >= 16 &&
      tonumber(split("/", var.vpc_cidr)[1]) <= 24
    )
    error_message = "vpc_cidr must be an IPv4 CIDR between /16 and /24 (VPC limits)."
  }
}

variable "az_count" {
  description = "Number of Availability Zones, each with one private subnet and one EFS mount target."
  type        = number
  default     = 2

  validation {
    condition     = var.az_count >= 2 && var.az_count <= 6 && floor(var.az_count) == var.az_count
    error_message = "az_count must be a whole number from 2 to 6."
  }
}

variable "enable_nat_gateway" {
  description = "Give the functions outbound internet access through one NAT gateway (about 33 USD a month idle). They need none to serve models."
  type        = bool
  default     = false
}

variable "enable_flow_logs" {
  description = "Send VPC flow logs (all traffic) to a CloudWatch log group."
  type        = bool
  default     = false
}

# ---------------------------------------------------------------------------------------
# Storage
# ---------------------------------------------------------------------------------------

variable "efs_mount_path" {
  description = "Where both functions mount the model file system; also the router's ROUTER_MODEL_ROOT."
  type        = string
  default     = "/mnt/models"

  validation {
    # Lambda's own rule for file_system_config.local_mount_path.
    condition     = can(regex("^/mnt/[a-zA-Z0-9-_.]+$", var.efs_mount_path))
    error_message = "efs_mount_path must be /mnt/ followed by one folder name of letters, digits, '-', '_' or '.'."
  }
}

variable "efs_posix_uid" {
  description = "POSIX user ID that both functions act as on the file system (owner of /models)."
  type        = number
  default     = 1000

  validation {
    # 0 would be root, which the access point exists to avoid.
    condition     = var.efs_posix_uid >= 1 && var.efs_posix_uid <= 4294967294 && floor(var.efs_posix_uid) == var.efs_posix_uid
    error_message = "efs_posix_uid must be a whole number from 1 to 4294967294 (not root)."
  }
}

variable "efs_posix_gid" {
  description = "POSIX group ID that both functions act as on the file system."
  type        = number
  default     = 1000

  validation {
    condition     = var.efs_posix_gid >= 1 && var.efs_posix_gid <= 4294967294 && floor(var.efs_posix_gid) == var.efs_posix_gid
    error_message = "efs_posix_gid must be a whole number from 1 to 4294967294 (not root)."
  }
}

# ---------------------------------------------------------------------------------------
# Functions
# ---------------------------------------------------------------------------------------

variable "package_path" {
  description = "Path, relative to this folder, of the zip built by scripts/build_package.py (`make package ARCH=...`); both functions run it. null (default) takes ../dist/model-router-lambda-<architecture>.zip. The build writes <zip without .zip>.json beside it, naming the architecture of its compiled libraries; plan refuses a package built for another architecture than var.architecture."
  type        = string
  default     = null

  validation {
    condition     = var.package_path == null || endswith(coalesce(var.package_path, ".zip"), ".zip")
    error_message = "package_path must name a .zip file."
  }
}

variable "architecture" {
  description = "Instruction set of both functions; the package must be built for the same one (arm64 costs about 20% less)."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture must be x86_64 or arm64."
  }
}

variable "log_level" {
  description = "Log level of both functions (ROUTER_LOG_LEVEL)."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], var.log_level)
    error_message = "log_level must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL."
  }
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of the functions' embedded-metric-format metrics (ROUTER_METRICS_NAMESPACE)."
  type        = string
  default     = "ModelRouter"

  validation {
    condition     = can(regex("^[A-Za-z0-9._/#:-]{1,255}$", var.metrics_namespace)) && !startswith(var.metrics_namespace, "AWS/")
    error_message = "metrics_namespace must be 1-255 characters of A-Z a-z 0-9 . _ / # : - and must not start with AWS/."
  }
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps the functions', API's and flow logs."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653."
  }
}

variable "router_memory_mb" {
  description = "Memory of the router function in MB; CPU scales with it (one vCPU at 1769 MB). Half of what the process's own 144 MiB leave is the model cache."
  type        = number
  default     = 2048

  validation {
    condition     = var.router_memory_mb >= 256 && var.router_memory_mb <= 10240 && floor(var.router_memory_mb) == var.router_memory_mb
    error_message = "router_memory_mb must be a whole number from 256 to 10240: the function's process alone needs about 144 MiB (docs/benchmarks.md)."
  }
}

variable "router_timeout_s" {
  description = "Timeout of the router function in seconds; API Gateway answers 503 after 30 s anyway."
  type        = number
  default     = 29

  validation {
    condition     = var.router_timeout_s >= 1 && var.router_timeout_s <= 30 && floor(var.router_timeout_s) == var.router_timeout_s
    error_message = "router_timeout_s must be a whole number from 1 to 30 (the HTTP API's integration limit)."
  }
}

variable "router_reserved_concurrency" {
  description = "Concurrent executions reserved for the router; -1 (default) reserves none, 0 stops all traffic. Lambda refuses a reservation that leaves fewer than 100 of the account's concurrency unreserved (Service Quotas L-B99A9384; new accounts often have 10, so any reservation fails there): `make deploy` checks before applying."
  type        = number
  default     = -1

  validation {
    condition     = var.router_reserved_concurrency >= -1 && floor(var.router_reserved_concurrency) == var.router_reserved_concurrency
    error_message = "router_reserved_concurrency must be a whole number, -1 or more."
  }
}

variable "router_provisioned_concurrency" {
  description = "Pre-initialised router environments behind the live alias (billed while idle); 0 (default) disables. Without router_reserved_concurrency they come out of the unreserved pool, of which Lambda keeps 100 free (Service Quotas L-B99A9384), so an account with a quota of 10 can have none: `make deploy` checks before applying."
  type        = number
  default     = 0

  validation {
    condition = (
      var.router_provisioned_concurrency >= 0 &&
      floor(var.router_provisioned_concurrency) == var.router_provisioned_concurrency &&
      (var.router_reserved_concurrency < 0 || var.router_provisioned_concurrency <= var.router_reserved_concurrency)
    )
    error_message = "router_provisioned_concurrency must be a whole number from 0 up to router_reserved_concurrency (when that is set)."
  }
}

variable "router_environment" {
  description = "Extra router settings, e.g. { ROUTER_CACHE_MAX_MODELS = \"16\" }; unset ones take the router's defaults. ROUTER_MODEL_ROOT, ROUTER_LOG_LEVEL and ROUTER_METRICS_NAMESPACE come from their own variables."
  type        = map(string)
  default     = {}

  validation {
    condition = alltrue([
      for key in keys(var.router_environment) : contains([
        "ROUTER_CACHE_MAX_MODELS",
        "ROUTER_CACHE_MAX_BYTES",
        "ROUTER_CACHE_POLICY",
        "ROUTER_RELOAD_INTERVAL_S",
        "ROUTER_PRELOAD",
        "ROUTER_MAX_ROWS",
        "ROUTER_MAX_BODY_BYTES",
        "ROUTER_LOAD_WAIT_S",
        "ROUTER_NTHREAD",
        "ROUTER_REQUEST_LOG_SAMPLE",
        "ROUTER_SETTLE_S",
      ], key)
    ])
    error_message = "router_environment keys must be among ROUTER_CACHE_MAX_MODELS, ROUTER_CACHE_MAX_BYTES, ROUTER_CACHE_POLICY, ROUTER_RELOAD_INTERVAL_S, ROUTER_PRELOAD, ROUTER_MAX_ROWS, ROUTER_MAX_BODY_BYTES, ROUTER_LOAD_WAIT_S, ROUTER_NTHREAD, ROUTER_REQUEST_LOG_SAMPLE, ROUTER_SETTLE_S."
  }
}

variable "inbox_memory_mb" {
  description = "Memory of the inbox function in MB."
  type        = number
  default     = 512

  validation {
    condition     = var.inbox_memory_mb >= 256 && var.inbox_memory_mb <= 10240 && floor(var.inbox_memory_mb) == var.inbox_memory_mb
    error_message = "inbox_memory_mb must be a whole number from 256 to 10240: the function's process alone needs about 144 MiB (docs/benchmarks.md)."
  }
}

variable "inbox_timeout_s" {
  description = "Timeout of the inbox function in seconds (copying a large model to EFS takes a while)."
  type        = number
  default     = 300

  validation {
    condition     = var.inbox_timeout_s >= 1 && var.inbox_timeout_s <= 900 && floor(var.inbox_timeout_s) == var.inbox_timeout_s
    error_message = "inbox_timeout_s must be a whole number from 1 to 900."
  }
}

variable "inbox_reserved_concurrency" {
  description = "Concurrent executions reserved for (and limiting) the inbox function; -1 (default) reserves none. Lambda refuses a reservation that leaves fewer than 100 of the account's concurrency unreserved (Service Quotas L-B99A9384; new accounts often have 10, so any reservation fails there): `make deploy` checks before applying."
  type        = number
  default     = -1

  validation {
    condition     = var.inbox_reserved_concurrency >= -1 && floor(var.inbox_reserved_concurrency) == var.inbox_reserved_concurrency
    error_message = "inbox_reserved_concurrency must be a whole number, -1 or more."
  }
}

# ---------------------------------------------------------------------------------------
# Model inbox bucket
# ---------------------------------------------------------------------------------------

variable "inbox_bucket_name" {
  description = "Name of the model inbox bucket; null picks a unique name starting with <name>-inbox-."
  type        = string
  default     = null

  validation {
    condition     = var.inbox_bucket_name == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.inbox_bucket_name))
    error_message = "inbox_bucket_name must be a valid S3 bucket name: 3-63 lower-case letters, digits, dots or hyphens."
  }

  validation {
    # S3's other naming rules: not an IP address, no two adjacent periods, and none of the
    # prefixes and suffixes S3 reserves for its own kinds of bucket and access point alias.
    # (HCL's || evaluates both sides, so a null name is checked as a valid stand-in.)
    condition = (
      !can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+\\.[0-9]+$", coalesce(var.inbox_bucket_name, "inbox"))) &&
      !strcontains(coalesce(var.inbox_bucket_name, "inbox"), "..") &&
      !anytrue([for reserved in ["xn--", "sthree-", "amzn-s3-demo-"] : startswith(coalesce(var.inbox_bucket_name, "inbox"), reserved)]) &&
      !anytrue([for reserved in ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"] : endswith(coalesce(var.inbox_bucket_name, "inbox"), reserved)])
    )
    error_message = "inbox_bucket_name is a name S3 refuses: it may not look like an IP address, contain \"..\", start with xn--, sthree- or amzn-s3-demo-, or end with -s3alias, --ol-s3, .mrap, --x-s3 or --table-s3."
  }
}

variable "inbox_force_destroy" {
  description = "Let `terraform destroy` delete the inbox bucket while it still holds objects."
  type        = bool
  default     = false
}

variable "inbox_noncurrent_version_days" {
  description = "Days after which a replaced or deleted inbox object's old version expires."
  type        = number
  default     = 30

  validation {
    condition     = var.inbox_noncurrent_version_days >= 1 && floor(var.inbox_noncurrent_version_days) == var.inbox_noncurrent_version_days
    error_message = "inbox_noncurrent_version_days must be a whole number of days, 1 or more."
  }
}

variable "inbox_abort_incomplete_upload_days" {
  description = "Days after which an unfinished multipart upload to the inbox is aborted."
  type        = number
  default     = 7

  validation {
    condition     = var.inbox_abort_incomplete_upload_days >= 1 && floor(var.inbox_abort_incomplete_upload_days) == var.inbox_abort_incomplete_upload_days
    error_message = "inbox_abort_incomplete_upload_days must be a whole number of days, 1 or more."
  }
}

# ---------------------------------------------------------------------------------------
# API
# ---------------------------------------------------------------------------------------

variable "api_authorization" {
  description = "How callers authenticate: AWS_IAM (SigV4-signed requests), JWT (jwt_issuer/jwt_audience) or NONE (public)."
  type        = string
  default     = "AWS_IAM"

  validation {
    condition     = contains(["AWS_IAM", "JWT", "NONE"], var.api_authorization)
    error_message = "api_authorization must be AWS_IAM, JWT or NONE."
  }
}

variable "jwt_issuer" {
  description = "Issuer URL of the JWT authorizer (used when api_authorization is JWT)."
  type        = string
  default     = null

  validation {
    condition     = var.api_authorization != "JWT" || can(regex("^https://", var.jwt_issuer))
    error_message = "jwt_issuer must be an https:// URL when api_authorization is JWT."
  }
}

variable "jwt_audience" {
  description = "Accepted audiences (aud claim) of the JWT authorizer (used when api_authorization is JWT)."
  type        = list(string)
  default     = []

  validation {
    condition     = var.api_authorization != "JWT" || length(var.jwt_audience) > 0
    error_message = "jwt_audience needs at least one audience when api_authorization is JWT."
  }
}

variable "expose_api_docs" {
  description = "Route GET /docs and GET /openapi.json through API Gateway, under api_authorization like every route (a browser cannot sign SigV4, so /docs is of use with NONE or JWT). Off by default: the other routes work without them."
  type        = bool
  default     = false
}

variable "api_throttling_rate_limit" {
  description = "Steady-state requests per second the API accepts across all routes."
  type        = number
  default     = 50

  validation {
    condition     = var.api_throttling_rate_limit > 0
    error_message = "api_throttling_rate_limit must be positive."
  }
}

variable "api_throttling_burst_limit" {
  description = "Requests the API accepts in a burst above the steady rate."
  type        = number
  default     = 100

  validation {
    condition     = var.api_throttling_burst_limit >= 1 && floor(var.api_throttling_burst_limit) == var.api_throttling_burst_limit
    error_message = "api_throttling_burst_limit must be a whole number, 1 or more."
  }
}

# ---------------------------------------------------------------------------------------
# Monitoring
# ---------------------------------------------------------------------------------------

variable "alarm_actions" {
  description = "ARNs (e.g. SNS topics) notified when an alarm fires or recovers."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.alarm_actions : startswith(arn, "arn:")])
    error_message = "alarm_actions must be ARNs."
  }
}

variable "router_p99_duration_alarm_ms" {
  description = "The router's p99 duration, in milliseconds over 5 minutes, above which an alarm fires."
  type        = number
  default     = 10000

  validation {
    condition     = var.router_p99_duration_alarm_ms > 0
    error_message = "router_p99_duration_alarm_ms must be positive."
  }
}

# ---------------------------------------------------------------------------------------
# Batch predictions (batch.tf)
# ---------------------------------------------------------------------------------------

variable "enable_batch" {
  description = "Build batch predictions: the batch bucket, its state machine, EventBridge rule and function. false removes them all."
  type        = bool
  default     = true
}

variable "batch_bucket_name" {
  description = "Name of the batch bucket (inputs under batch/, results under results/); null picks a unique name starting with <name>-batch-."
  type        = string
  default     = null

  validation {
    condition     = var.batch_bucket_name == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.batch_bucket_name))
    error_message = "batch_bucket_name must be a valid S3 bucket name: 3-63 lower-case letters, digits, dots or hyphens."
  }
}

variable "batch_force_destroy" {
  description = "Let `terraform destroy` delete the batch bucket while it still holds objects."
  type        = bool
  default     = false
}

variable "batch_results_days" {
  description = "Days after which a job's results, and replaced input versions, expire."
  type        = number
  default     = 30

  validation {
    condition     = var.batch_results_days >= 1 && floor(var.batch_results_days) == var.batch_results_days
    error_message = "batch_results_days must be a whole number of days, 1 or more."
  }
}

variable "batch_memory_mb" {
  description = "Memory of the batch function in MB; CPU scales with it (one vCPU at 1769 MB)."
  type        = number
  default     = 1769

  validation {
    condition     = var.batch_memory_mb >= 256 && var.batch_memory_mb <= 10240 && floor(var.batch_memory_mb) == var.batch_memory_mb
    error_message = "batch_memory_mb must be a whole number from 256 to 10240: the function's process alone needs about 144 MiB (docs/benchmarks.md)."
  }
}

variable "batch_timeout_s" {
  description = "Timeout of the batch function in seconds; finishing a job concatenates all its parts in one invocation."
  type        = number
  default     = 900

  validation {
    condition     = var.batch_timeout_s >= 1 && var.batch_timeout_s <= 900 && floor(var.batch_timeout_s) == var.batch_timeout_s
    error_message = "batch_timeout_s must be a whole number from 1 to 900."
  }
}

variable "batch_reserved_concurrency" {
  description = "Concurrent executions reserved for the batch function, so jobs cannot take the router's; -1 (default) reserves none (the map's batch_max_concurrency still bounds a job). batch_max_concurrency + 2 covers a running job and the steps of a second. Lambda refuses a reservation that leaves fewer than 100 of the account's concurrency unreserved (Service Quotas L-B99A9384; new accounts often have 10): `make deploy` checks before applying."
  type        = number
  default     = -1

  validation {
    condition     = var.batch_reserved_concurrency >= -1 && floor(var.batch_reserved_concurrency) == var.batch_reserved_concurrency
    error_message = "batch_reserved_concurrency must be a whole number, -1 or more."
  }
}

variable "batch_max_concurrency" {
  description = "Parts of one job predicted at once (the Distributed Map's MaxConcurrency)."
  type        = number
  default     = 10

  validation {
    condition     = var.batch_max_concurrency >= 1 && var.batch_max_concurrency <= 1000 && floor(var.batch_max_concurrency) == var.batch_max_concurrency
    error_message = "batch_max_concurrency must be a whole number from 1 to 1000."
  }
}

variable "batch_rows_per_part" {
  description = "Most rows in one part (the map's MaxItemsPerBatch)."
  type        = number
  default     = 1000

  validation {
    condition     = var.batch_rows_per_part >= 1 && var.batch_rows_per_part <= 100000 && floor(var.batch_rows_per_part) == var.batch_rows_per_part
    error_message = "batch_rows_per_part must be a whole number from 1 to 100000."
  }
}

variable "batch_bytes_per_part" {
  description = "Most bytes of rows in one part (the map's MaxInputBytesPerBatch); Step Functions allows 262144 at most."
  type        = number
  default     = 245760

  validation {
    condition     = var.batch_bytes_per_part >= 1024 && var.batch_bytes_per_part <= 262144 && floor(var.batch_bytes_per_part) == var.batch_bytes_per_part
    error_message = "batch_bytes_per_part must be a whole number from 1024 to 262144 (256 KiB, Step Functions' payload limit)."
  }
}
