"""Library exceptions mapped into the error tree where a mapping's work is caught.

Adapters map what they expect; this is the net under them, so no exception from a library we
drive (httpx, lxml, zeep, duckdb, the Snowflake connector) ever reads "internal error": each
becomes a `MigoSyncError` carrying the library's own message and the documented exit code. It
looks at the exception's module, so no library is imported to recognise its errors.
"""

from __future__ import annotations

from migo_sync.errors import FatalRemoteError, MigoSyncError, UnreachableError, WarehouseError

# httpx errors that mean the other side could not be reached at all (everything else: a bad answer).
_UNREACHABLE = frozenset({"ConnectError", "ConnectTimeout", "PoolTimeout", "ReadTimeout", "WriteTimeout",
                          "NetworkError", "ReadError", "WriteError", "TimeoutException", "UnsupportedProtocol",
                          "InvalidURL", "ProxyError"})
# duckdb errors about the file itself (missing, locked, unwritable), not about a statement.
_WAREHOUSE_UNREACHABLE = frozenset({"IOException", "PermissionException", "ConnectionException"})


def library_error(system: str, exc: BaseException) -> MigoSyncError | None:
    """The error-tree form of a library exception, or None for anything else (a real bug)."""
    if isinstance(exc, MigoSyncError):
        return exc
    library = type(exc).__module__.split(".")[0]
    name = type(exc).__name__
    text = " ".join(str(exc).split()) or name
    if library in ("httpx", "httpcore", "h11"):
        if name in _UNREACHABLE:
            return UnreachableError(f"{system}: {name}: {text}")
        return FatalRemoteError(system, f"{name}: {text}")
    if library in ("lxml", "zeep"):
        return FatalRemoteError(system, f"unreadable answer ({name}): {text}")
    if library in ("duckdb", "_duckdb"):
        if name in _WAREHOUSE_UNREACHABLE:
            return UnreachableError(f"the DuckDB warehouse: {text}")
        return WarehouseError(f"the DuckDB warehouse refused a statement: {text}")
    if library == "snowflake":
        if name in ("OperationalError", "InterfaceError"):
            return UnreachableError(f"Snowflake: {text}")
        return WarehouseError(f"Snowflake refused a statement: {text}")
    return None


def origin(exc: BaseException) -> str:
    """Who a library exception is about when no mapping names the system: the host an httpx
    request went to, else the library itself (duckdb, snowflake: their messages say the rest)."""
    request = getattr(exc, "_request", None)  # httpx keeps it here; `.request` raises when unset
    url = getattr(request, "url", None)
    host = getattr(url, "host", None)
    if host:
        port = getattr(url, "port", None)
        return f"{host}:{port}" if port else str(host)
    return type(exc).__module__.split(".")[0]
