"""Publishing models: validated, atomic and versioned, into a folder or through the S3 inbox.

``validate`` turns bytes into a publishable UBJ file with its metadata inside; ``local``
writes one into a model root (a folder or the EFS mount) with a bounded history; ``s3`` talks
to the inbox bucket; ``events``, ``state`` and ``apply`` are what the inbox function
(``router.publish.lambda_handler``) does with S3 notifications; ``cli`` adds the commands.

The router never imports this package: boto3 and tqdm stay out of its Lambda's cold start.
"""
