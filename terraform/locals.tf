data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.region

  router_function_name = "${var.name}-router"
  inbox_function_name  = "${var.name}-inbox"

  # Log group names are fixed strings, so the KMS key policy can name them without a cycle.
  router_log_group_name = "/aws/lambda/${local.router_function_name}"
  inbox_log_group_name  = "/aws/lambda/${local.inbox_function_name}"
  api_log_group_name    = "/aws/vendedlogs/apigateway/${var.name}"
  flow_log_group_name   = "/aws/vpc-flow-logs/${var.name}"

  # Keys under this prefix of the inbox bucket are models: models/<name>/<file>.
  inbox_key_prefix = "models/"

  # Both functions mount the same access point at the same path; the router reads the
  # path from ROUTER_MODEL_ROOT, so the two must never differ.
  model_root = var.efs_mount_path

  # Variables this module owns. They are merged last, so router_environment cannot override
  # them (its validation rejects their names anyway).
  router_owned_environment = {
    ROUTER_MODEL_ROOT        = local.model_root
    ROUTER_LOG_LEVEL         = var.log_level
    ROUTER_METRICS_NAMESPACE = var.metrics_namespace
    # The app serves its docs exactly when API Gateway routes them.
    ROUTER_DOCS = tostring(var.expose_api_docs)
  }
  router_default_environment = {
    # A request that waits for a model load must give up before the function times out.
    ROUTER_LOAD_WAIT_S = tostring(max(1, var.router_timeout_s - 4))
  }
  # OpenMP sizes its thread team from OMP_NUM_THREADS (else all cores, whose idle workers
  # spin and slow every model load), and the team caps XGBoost's threads: follow the
  # router's ROUTER_NTHREAD. One BLAS thread: numpy does no heavy algebra here.
  thread_environment = {
    OMP_NUM_THREADS      = "1"
    OPENBLAS_NUM_THREADS = "1"
  }
  router_thread_environment = merge(local.thread_environment, {
    OMP_NUM_THREADS = lookup(var.router_environment, "ROUTER_NTHREAD", "1")
  })
  router_environment = merge(
    local.router_thread_environment,
    local.router_default_environment,
    var.router_environment,
    local.router_owned_environment,
  )

  inbox_owned_environment = {
    ROUTER_MODEL_ROOT        = local.model_root
    ROUTER_LOG_LEVEL         = var.log_level
    ROUTER_METRICS_NAMESPACE = var.metrics_namespace
  }
  inbox_environment = merge(local.thread_environment, local.inbox_owned_environment)

  # Every function runs the one package, built for this Python (scripts/build_package.py).
  lambda_runtime = "python3.12"

  # Lambda's JSON log filter drops lines without a "level" once it is above INFO, and every
  # EMF metrics document is such a line. So Lambda filters at INFO (DEBUG when asked) and
  # the functions apply ROUTER_LOG_LEVEL themselves.
  lambda_application_log_level = var.log_level == "DEBUG" ? "DEBUG" : "INFO"

  # The zip is only read at plan time; `terraform validate` never needs it.
  package_path   = coalesce(var.package_path, "../dist/model-router-lambda-${var.architecture}.zip")
  package_exists = fileexists(local.package_path)
  package_hash   = local.package_exists ? filebase64sha256(local.package_path) : null
  # scripts/build_package.py records, beside the zip, the architecture it read from the ELF
  # header of libxgboost.so and the zip's hash, so plan can refuse a zip whose compiled
  # libraries the function could not load (and a record left over from another build).
  package_manifest_path = "${trimsuffix(local.package_path, ".zip")}.json"
  package_manifest      = fileexists(local.package_manifest_path) ? jsondecode(file(local.package_manifest_path)) : null
  package_architecture  = try(local.package_manifest.architecture, null)
  package_matches_architecture = (
    local.package_architecture == var.architecture &&
    try(local.package_manifest.zip_base64sha256, null) == local.package_hash
  )
  package_problem = (
    local.package_manifest == null ? "${local.package_manifest_path}, which the build writes beside the zip, is missing" :
    local.package_architecture != var.architecture ? "it was built for ${try(tostring(local.package_architecture), "an unknown architecture")}" :
    "${local.package_manifest_path} describes another zip (was the zip replaced?)"
  )
}
