"""Error types. Each carries its default message in its docstring."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from wayline.journeys.problems import Problem


class WaylineError(Exception):
    """Something went wrong in Wayline."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())


class ConfigurationError(WaylineError):
    """The configuration is not valid."""


class WorkspaceExists(WaylineError):
    """A workspace with this name already exists."""


class JourneyNotFound(WaylineError):
    """No journey with this id in the workspace."""


class ProfileNotFound(WaylineError):
    """No customer with this id in the workspace."""


class AmbiguousWorkspace(WaylineError):
    """Several workspaces exist: choose one with --workspace."""


class WorkspaceNotFound(WaylineError):
    """No workspace with this name or id."""


class CredentialNotFound(WaylineError):
    """No credential with this id in the workspace."""


class CredentialRevoked(WaylineError):
    """The credential is already revoked."""


class LastAdminToken(WaylineError):
    """This is the workspace's last admin token: create another before revoking it."""


class StoreNotFound(WaylineError):
    """There is no Wayline store here yet."""


class ConsumerConflict(WaylineError):
    """Another process changed what this consumer batch was based on; it will be retried."""


class InvalidMessage(WaylineError):
    """The message does not follow the Segment spec."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.reason = message


class MessageTooLarge(InvalidMessage):
    """The message is over the size limit."""


class JourneyInvalid(WaylineError):
    """The journey is not valid."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems) or None)


class ControlsInvalid(WaylineError):
    """The workspace controls are not valid."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems) or None)


class SegmentInvalid(JourneyInvalid):
    """The segment is not valid."""


class SegmentNotFound(WaylineError):
    """No segment with this id in the workspace."""
