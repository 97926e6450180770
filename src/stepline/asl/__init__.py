"""Amazon States Language: parse a definition and validate it as AWS does."""

from stepline.asl.parse import create_error_message, parse_definition, query_language_of

__all__ = ["create_error_message", "parse_definition", "query_language_of"]
