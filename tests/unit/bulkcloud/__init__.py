"""The distributed import and DynamoDB import/export driven by fleet with s3:// targets."""
