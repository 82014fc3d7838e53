"""Errors a use case raises; each carries a message fit to show the person who acted."""

from __future__ import annotations


class ReleasebotError(Exception):
    """A refusal the user can act on: ``message`` says what was wrong, ``hint`` what to type instead."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def render(self) -> str:
        if self.hint:
            return f"{self.message}\n{self.hint}"
        return self.message


class UsageError(ReleasebotError):
    """The command text did not parse."""


class NotFound(ReleasebotError):
    """A named object does not exist."""


class Invalid(ReleasebotError):
    """A value is malformed or out of range."""


class Conflict(ReleasebotError):
    """The request collides with the current state (duplicate, already active, already decided)."""


class PermissionDenied(ReleasebotError):
    """The actor's role does not allow the action."""


class DuplicateRequest(Exception):
    """The same request (Slack retry, double click) was already handled; nothing more happens."""
