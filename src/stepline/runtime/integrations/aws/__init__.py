"""Integrations that call AWS services (or local emulators at the configured endpoints): clients.py decides where
calls go and with which credentials; sdk.py answers every `aws-sdk:*` resource from botocore's models;
optimized.py answers the optimized integrations; errors.py names failures as Step Functions does."""
