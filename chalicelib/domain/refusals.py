"""Why a request is refused, in words a person can act on.

Rules and services raise these; `pages.web.REFUSAL_STATUS` is the one place that
turns each kind into an HTTP status, for pages and the JSON API alike. `errors`
maps the field to fix (or "_body" for the request as a whole) to its sentence.
"""
from __future__ import annotations

from collections.abc import Mapping


class Refused(Exception):
    def __init__(self, errors: str | Mapping = "", *, field: str = "_body"):
        self.errors = dict(errors) if isinstance(errors, Mapping) else {field: errors}
        super().__init__("; ".join(str(message) for message in self.errors.values()))

    @property
    def message(self) -> str:
        return str(self)


class Invalid(Refused, ValueError):
    """What was sent breaks a rule: a missing field, a value out of range, a bad token."""


class Forbidden(Refused):
    """The request may not do this as sent: it came from another site, or lacks its form's token."""


class NotFound(Refused):
    """The thing asked for does not exist (or no longer does)."""


class Conflict(Refused):
    """The records' present state does not allow it: a lost race, a rule of uniqueness, a state."""


class TooLarge(Refused):
    """The request is larger than the system accepts."""


class WrongMediaType(Refused):
    """The request's body is not of a kind this address accepts."""
