"""Where LeadSquared's async API lives: documented region hosts and URL checks.

The three documented async hosts are in docs/leadsquared.md ("Hosts"); other regions need
an explicit base URL.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from shared.infra.sockets import is_loopback

__all__ = ["REGION_HOSTS", "check_base_url", "normalise_region", "region_host"]

#: documented async hosts by region
REGION_HOSTS: dict[str, str] = {
    "sg": "https://asyncapi.leadsquared.com",
    "in21": "https://asyncapi-in21.leadsquared.com",
    "us11": "https://asyncapi-us11.leadsquared.com",
}
_REGION_ALIASES = {
    "singapore": "sg",
    "sgp": "sg",
    "default": "sg",
    "india": "in21",
    "in": "in21",
    "usa": "us11",
    "us": "us11",
}


def normalise_region(region: str) -> str:
    """``India`` → ``in21``: the region code for a name or alias (unknown ones unchanged)."""
    key = region.strip().lower()
    return _REGION_ALIASES.get(key, key)


def region_host(region: str) -> str | None:
    """The documented async host of ``region``, or ``None`` when none is documented."""
    return REGION_HOSTS.get(normalise_region(region))


def check_base_url(url: str, *, carries: str | None) -> str:
    """``url`` without its trailing slash, if it is an absolute http(s) URL with a host.

    Args:
        url: the URL as configured.
        carries: what every call to this URL carries (``"the LeadSquared API key"``), or
            ``None``. Such a URL must use https://, except on this machine.

    Raises:
        ValueError: why the URL cannot be used, in words for the person configuring it.
    """
    value = url.strip().rstrip("/")
    if not value.startswith(("http://", "https://")):
        raise ValueError("must start with https:// (or http:// for a local simulator)")
    try:
        parsed = urlsplit(value)
        parsed.port  # noqa: B018 (reading it validates the port)
    except ValueError:
        raise ValueError("is not a valid URL") from None
    host = parsed.hostname
    if not host:
        raise ValueError("has no host name")
    # Every call to such a host carries a secret in a header: over plain http:// anyone on
    # the way could read it. Loopback never leaves the machine (simulator, local proxy).
    if carries is not None and value.lower().startswith("http://") and not is_loopback(host):
        raise ValueError(
            f"uses http:// for {host}, so {carries} would travel unencrypted; use "
            "https:// (plain http:// is accepted only for this machine: localhost, "
            "127.0.0.1 or ::1)"
        )
    return value
