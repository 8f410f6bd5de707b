"""The one exception tree of migo-sync, grouped by lifecycle.

    MigoSyncError                  every error carries a user-facing message
    ├── ConfigError                exit 2: bad project config, missing credential, bad CLI use
    │   ├── MappingError           exit 2: a mapping file is invalid (holds every Problem found)
    │   └── MissingExtraError      exit 2: an optional dependency is not installed
    ├── RemoteError                an external system answered with an error
    │   ├── RetriableError         429 / 5xx / dropped connection: the HTTP layer retries these
    │   │   └── RateLimited        429 or a gateway throttle code; carries retry_after seconds
    │   ├── AuthError              credentials refused: a config problem, never retried (exit 2)
    │   └── FatalRemoteError       anything else the remote refuses as a whole request
    ├── UnreachableError           exit 3: a system or the warehouse could not be reached
    ├── LockedError                exit 3: another process holds the project lock (migo_sync.lock)
    ├── WarehouseError             the warehouse refused a statement
    └── RecordError                one record or unit is refused; recorded as a reject, run goes on

The one exit-code rule (`exit_code_for`): credentials or permission refused (AuthError) and any
config problem → 2; a system or the warehouse unreachable → 3; anything else that failed a mapping,
and rows rejected → 1. A run's code is the most serious of its mappings' (`most_serious`: 3, 2, 1).

Retry logic looks only at the RetriableError branch. A write whose outcome is unknown is raised as
OutcomeUnknownError (a RetriableError) and is resent only when the request carries an idempotency key.
"""

from __future__ import annotations


class MigoSyncError(Exception):
    """Base of every error migo-sync raises on purpose; `str()` is the message users see."""

    exit_code: int = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(MigoSyncError):
    """The project, a credential or the command line is wrong; nothing was sent."""

    exit_code = 2


class UsageError(ConfigError):
    """The command line itself is wrong (conflicting flags, an empty selection); exit 2."""


class Problem:
    """One problem in one mapping file, printed as `FILE:LINE: path: message (hint)`."""

    __slots__ = ("file", "hint", "line", "message", "path")

    def __init__(self, file: str, line: int | None, path: str, message: str, hint: str | None = None) -> None:
        self.file = file
        self.line = line
        self.path = path
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        text = f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text

    def as_dict(self) -> dict[str, object]:
        return {"file": self.file, "line": self.line, "path": self.path, "message": self.message, "hint": self.hint}

    def __repr__(self) -> str:
        return f"Problem({self!s})"


class MappingError(ConfigError):
    """One or more mapping files are invalid; every problem found is listed at once."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class MissingExtraError(ConfigError):
    """An optional dependency is missing; the message names the exact install command."""

    def __init__(self, what: str, extra: str) -> None:
        super().__init__(f"{what} needs an optional dependency: pip install 'migo-sync[{extra}]'")


class RemoteError(MigoSyncError):
    """An external system answered with an error."""

    def __init__(self, system: str, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(f"{system}: {message}")
        self.system = system
        self.status = status
        self.code = code


class RetriableError(RemoteError):
    """A passing failure (429, 5xx, dropped connection); the HTTP layer retries it."""

    retry_after: float | None = None


class RateLimited(RetriableError):
    """The remote throttled us; `retry_after` is the wait it asked for, if any."""

    def __init__(self, system: str, message: str, *, retry_after: float | None = None,
                 status: int | None = 429, code: str | None = None) -> None:
        super().__init__(system, message, status=status, code=code)
        self.retry_after = retry_after


class OutcomeUnknownError(RetriableError):
    """The request was sent but no answer came back; only an idempotent request may be resent."""


class AuthError(RemoteError):
    """The remote refused our credentials: a configuration problem, never retried."""

    exit_code = 2


class FatalRemoteError(RemoteError):
    """The remote refused a whole request for a reason retrying will not fix."""


class UnreachableError(MigoSyncError):
    """A system or the warehouse could not be reached (after retries)."""

    exit_code = 3


class WarehouseError(MigoSyncError):
    """The warehouse refused a statement."""


class RecordError(MigoSyncError):
    """One record or unit was refused; it becomes a reject and the run goes on."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


SEVERITY = (3, 2, 1)  # unreachable, then config/auth, then rejected/failed


def exit_code_for(exc: BaseException) -> int:
    """The documented exit code of an error: the class says it (AuthError 2, UnreachableError 3);
    anything not raised on purpose failed a mapping (1)."""
    return exc.exit_code if isinstance(exc, MigoSyncError) else 1


def most_serious(codes: list[int]) -> int:
    """One exit code for several outcomes: 3 before 2 before 1; 0 only when every one is 0."""
    return next((code for code in SEVERITY if code in codes), 0 if all(c == 0 for c in codes) else 1)
