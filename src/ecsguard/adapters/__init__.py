"""The only code that calls AWS. Each adapter lists the IAM actions it calls (``IAM_ACTIONS``)."""
