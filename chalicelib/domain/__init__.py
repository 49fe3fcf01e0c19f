"""Pure rules: schema, validation, matching, the pairing lifecycle, replies, tokens, the clock.

Nothing here imports chalice, boto3, pynamodb or an adapter.
"""
