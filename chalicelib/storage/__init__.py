"""Storage at the edge: PynamoDB models for every table, S3 for large content, the SQS queues."""
