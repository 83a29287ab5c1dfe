"""The one exception family. Every error a user can cause is a TailorError whose message
says what is wrong and what to do; the CLI turns it into exit code 1 in one place.

It lives in knowledge/ because that package imports nothing of ours, so every other
package can import it without a cycle.
"""


class TailorError(Exception):
    """An error shown to the user as is: the message names the file, line or field and the fix."""


class ConfigError(TailorError):
    """assistant.yaml (or an option) is invalid."""


class InputError(TailorError):
    """A user's file (document, JSONL line, suite) cannot be used."""


class IndexError_(TailorError):
    """The knowledge base on disk is missing, half-written or built with other settings."""


class BuildError(TailorError):
    """A build is missing, half-written, or from an incompatible version."""
