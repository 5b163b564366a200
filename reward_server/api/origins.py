"""Which host names and web origins the server answers: a guard against web pages.

A server without a token on 127.0.0.1 is reachable by any web page its user opens. Two doors:

* *cross-site writes*: a page may POST a text/plain or form body to any address without asking
  the browser's permission (no CORS preflight). The handlers take JSON bodies only (415 for
  the rest), which a page cannot send cross-site without a preflight this server never grants.
  A request whose ``Origin`` names another site is refused as well.
* *DNS rebinding*: a page on ``evil.example`` re-points that name at 127.0.0.1; the browser then
  treats the server as same-origin and can read the table. Such requests carry
  ``Host: evil.example``, so the ``Host`` header must be a name this server is known by:
  loopback names, an IP address (rebinding needs a name), the ``--host`` it binds, or an
  ``--allowed-host`` (``*``: any, e.g. behind a proxy that checks it).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import urlsplit

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


class HostNotAllowed(Exception):
    """Raised by the guard; the app's error middleware turns it into a 403."""

    def __init__(self, error: str, detail: str) -> None:
        super().__init__(error)
        self.error, self.detail = error, detail


def allowed_names(bind_host: str, extra: Iterable[str]) -> frozenset[str]:
    names = set(LOOPBACK_NAMES) | {name.lower().rstrip(".") for name in extra}
    if bind_host and bind_host not in ("0.0.0.0", "::"):
        names.add(bind_host.lower().rstrip("."))
    return frozenset(names)


def host_name(authority: str) -> str:
    """The host of a ``Host`` header or URL authority, lower case, without port or brackets."""
    authority = authority.strip().lower()
    if authority.startswith("["):  # [::1]:8765
        return authority[1:].split("]", 1)[0]
    if authority.count(":") == 1:
        authority = authority.split(":", 1)[0]
    return authority.rstrip(".")


def is_allowed(name: str, allowed: frozenset[str]) -> bool:
    if "*" in allowed or name in allowed or name.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True  # an address: no DNS name to rebind


def host_guard(bind_host: str, extra: Iterable[str]) -> Callable[..., Awaitable[web.StreamResponse]]:
    allowed = allowed_names(bind_host, extra)

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        host = request.headers.get("Host")
        if host is not None and not is_allowed(host_name(host), allowed):
            raise HostNotAllowed(
                f"this server does not answer to the host name {host_name(host)[:100]!r}",
                "if that name is yours, start the server with --allowed-host NAME "
                "(names are checked so that a web page cannot reach it by DNS rebinding)",
            )
        origin = request.headers.get("Origin")
        if origin is not None and not is_allowed(host_name(urlsplit(origin).netloc), allowed):
            raise HostNotAllowed(f"requests from the web origin {origin[:100]!r} are refused",
                                 "web pages may not use this server; clients send no Origin header")
        return await handler(request)

    return guard
