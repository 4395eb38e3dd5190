"""Batch predictions: a file of rows in, a file of predictions out, with a manifest.

The same code runs a job locally over a file (``model-router batch``, ``router.batch.job``)
and, on AWS, inside the batch Lambda function that Step Functions' Distributed Map invokes
for each part of a file in S3 (``router.batch.lambda_handler``). See docs/batch.md.
"""
