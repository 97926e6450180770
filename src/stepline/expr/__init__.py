"""Expressions: JSONPath, payload templates, intrinsic functions, JSONata and variables. Pure."""
