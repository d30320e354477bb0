"""The pure core: resource models, the policy language, the engine and its results.

Nothing here imports boto3, botocore or Powertools, or reads the environment.
"""
