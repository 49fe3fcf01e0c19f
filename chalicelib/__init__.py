"""The mentoring program's code, one package per layer.

pages     what returns an HTTP answer (public pages, admin pages, JSON, CSV)
services  use cases that read and write the stores
adapters  PynamoDB models, store helpers, AWS clients, config, metrics
domain    pure rules: no chalice, boto3, pynamodb or adapter

Imports only go downwards: pages -> services -> adapters -> domain.
"""
