"""Business logic, storage and mail adapters for the mentoring program.

Pure modules (schema, validation, tokens, matching, lifecycle, replies, clock)
import neither chalice nor boto3. Adapters (models, mail, aws) wrap the stores.
"""
