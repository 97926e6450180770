"""Stepline: run AWS Step Functions (Amazon States Language) workflows anywhere."""
