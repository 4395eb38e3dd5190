# The smallest useful deployment: copy to terraform/terraform.tfvars and adjust.
# Everything else keeps its default (see ../variables.tf and ../README.md).

region = "eu-west-1"

# Optional: a shorter or project-specific prefix for every resource name.
# name = "model-router"

# Optional: the zip from `make package ARCH=...`, relative to terraform/ (default: the one
# built for `architecture`, ../dist/model-router-lambda-<architecture>.zip).
# package_path = "../dist/model-router-lambda-x86_64.zip"

# Optional: who may call the API. AWS_IAM (the default) needs SigV4-signed requests;
# NONE makes the endpoint public.
# api_authorization = "AWS_IAM"

# Optional: where alarms are sent, e.g. an SNS topic subscribed to by e-mail.
# alarm_actions = ["arn:aws:sns:eu-west-1:123456789012:model-router-alarms"]
