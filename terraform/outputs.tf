output "api_url" {
  description = "Base URL of the HTTP API, without a trailing slash: <api_url>/models/<name>/predict."
  # The $default stage's invoke_url ends in "/", and "$url/models/..." would then ask for
  # "//models/...".
  value = trimsuffix(aws_apigatewayv2_stage.default.invoke_url, "/")
}

output "api_authorization" {
  description = "How the API authenticates callers (var.api_authorization): AWS_IAM, JWT or NONE; scripts/deploy.py prints a call to match."
  value       = var.api_authorization
}

output "api_id" {
  description = "ID of the HTTP API (for IAM policies granting execute-api:Invoke)."
  value       = aws_apigatewayv2_api.this.id
}

output "api_execution_arn" {
  description = "Execution ARN of the HTTP API; grant callers execute-api:Invoke on <arn>/*/* when api_authorization is AWS_IAM."
  value       = aws_apigatewayv2_api.this.execution_arn
}

output "inbox_bucket" {
  description = "Name of the model inbox bucket; upload models to s3://<bucket>/models/<name>/<file>."
  value       = aws_s3_bucket.inbox.id
}

output "uploader_policy_json" {
  description = "An IAM policy (JSON) that lets a person or pipeline publish, list, roll back and delete models in the inbox: S3 under models/ and kms:GenerateDataKey plus kms:Decrypt on the key. Attach it with e.g. `aws iam put-user-policy --policy-document \"$(terraform output -raw uploader_policy_json)\"`."
  value       = data.aws_iam_policy_document.uploader.json
}

output "inbox_bucket_arn" {
  description = "ARN of the model inbox bucket."
  value       = aws_s3_bucket.inbox.arn
}

output "kms_key_arn" {
  description = "ARN of the KMS key that encrypts EFS, the inbox bucket, the dead letter queue and the logs; uploaders need kms:GenerateDataKey and kms:Decrypt on it (see uploader_policy_json)."
  value       = aws_kms_key.this.arn
}

output "router_function_name" {
  description = "Name of the router Lambda function."
  value       = aws_lambda_function.router.function_name
}

output "router_alias_arn" {
  description = "ARN of the router's live alias, the target of the API."
  value       = aws_lambda_alias.router.arn
}

output "inbox_function_name" {
  description = "Name of the inbox Lambda function."
  value       = aws_lambda_function.inbox.function_name
}

output "inbox_dead_letter_queue_url" {
  description = "URL of the SQS queue holding inbox events that failed after retries."
  value       = aws_sqs_queue.inbox_dead_letters.url
}

output "efs_file_system_id" {
  description = "ID of the EFS file system holding the models."
  value       = aws_efs_file_system.this.id
}

output "efs_access_point_id" {
  description = "ID of the EFS access point both functions mount."
  value       = aws_efs_access_point.this.id
}

output "efs_access_point_arn" {
  description = "ARN of the EFS access point both functions mount."
  value       = aws_efs_access_point.this.arn
}

output "model_root" {
  description = "Path at which both functions see the models (ROUTER_MODEL_ROOT)."
  value       = local.model_root
}

output "vpc_id" {
  description = "ID of the VPC."
  value       = aws_vpc.this.id
}

output "private_subnet_ids" {
  description = "IDs of the private subnets the functions run in."
  value       = aws_subnet.private[*].id
}

output "batch_bucket" {
  description = "Name of the batch bucket: put inputs at s3://<bucket>/batch/<model>/<job>.csv (or .jsonl); results appear under results/. Null without enable_batch."
  value       = one(aws_s3_bucket.batch[*].id)
}

output "batch_state_machine_arn" {
  description = "ARN of the batch state machine, for `model-router batch s3://...` (ROUTER_BATCH_STATE_MACHINE_ARN). Null without enable_batch."
  value       = one(aws_sfn_state_machine.batch[*].arn)
}

output "batch_user_policy_json" {
  description = "An IAM policy (JSON) that lets a person or pipeline run batch jobs: put inputs under batch/, start and follow jobs with `model-router batch s3://...`, read results/, and use the key. Attach it as uploader_policy_json is. Null without enable_batch."
  value       = one(data.aws_iam_policy_document.batch_user[*].json)
}

output "batch_function_name" {
  description = "Name of the batch Lambda function. Null without enable_batch."
  value       = one(aws_lambda_function.batch[*].function_name)
}
