"""ecsguard: a policy-as-code compliance scanner for Amazon ECS."""

__version__ = "0.1.0"
