"""Exceptions shared across the package."""


class UsageError(Exception):
    """Bad user input: the CLI prints it as one line (exit code 2), with no traceback."""
