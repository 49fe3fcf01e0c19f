"""The edges to AWS: PynamoDB models, store helpers, lazily built clients, config, metrics."""
