"""Webhooks through Apprise: one library that speaks to most chat and paging services
(`json://`, `slack://`, `pagerduty://`, `mailto://`, ...), so none of their clients is written
here. An Apprise URL holds its service's token: it is never shown, logged or printed whole
(`shown_url`), and Apprise's own log, which may carry a URL, is kept out of ours.

Blocking: `send` is called from a daemon thread (sources/blocking.py) with a deadline, so a
webhook that hangs never holds up the console.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

# Schemes whose URL names a host of the operator's (an HTTP endpoint): shown with the host.
# Every other scheme's "host" is often a token (`slack://TokenA/TokenB/TokenC`).
_HOST_SCHEMES = frozenset({"json", "jsons", "form", "forms", "xml", "xmls"})


def shown_url(url: str) -> str:
    """An Apprise URL as it may be shown: its scheme, and its host where the scheme is a
    plain HTTP endpoint; never a user, password, token or path."""
    scheme, _, rest = url.partition("://")
    if scheme.lower() in _HOST_SCHEMES:
        try:
            parts = urlsplit(f"http://{rest}")
            host = parts.hostname or ""
            port = f":{parts.port}" if parts.port else ""
        except ValueError:
            host, port = "", ""
        if host:
            return f"{scheme}://{host}{port}/…"
    return f"{scheme}://***"


def _bounded(url: str, timeout_s: float) -> str:
    """The URL with Apprise's connect and read timeouts (`cto`, `rto`) set unless given."""
    query = urlsplit(url).query if "://" in url else ""
    extra = [f"{k}={timeout_s:g}" for k in ("cto", "rto") if f"{k}=" not in query]
    if not extra:
        return url
    return url + ("&" if "?" in url else "?") + "&".join(extra)


@dataclass(frozen=True)
class WebhookResult:
    url: str  # as shown (shown_url)
    ok: bool


class Webhooks:
    """The configured Apprise URLs; `send` posts one notification to each."""

    def __init__(self, urls: Sequence[str], timeout_s: float) -> None:
        self._urls = tuple(urls)
        self._timeout_s = timeout_s

    def __bool__(self) -> bool:
        return bool(self._urls)

    @property
    def shown(self) -> tuple[str, ...]:
        return tuple(shown_url(u) for u in self._urls)

    def send(self, title: str, body: str, failure: bool) -> list[WebhookResult]:
        """Blocking. One POST (or the service's equivalent) per URL; a URL Apprise cannot
        use, or a service that refuses, is a result with ok False (never raised)."""
        import apprise  # lazily: a console without webhooks never imports it

        # Apprise logs URLs in its debug lines and some of its warnings: kept out of our log,
        # which says per URL what became of it, with the URL masked.
        logging.getLogger("apprise").setLevel(logging.CRITICAL)
        kind = apprise.NotifyType.FAILURE if failure else apprise.NotifyType.SUCCESS
        results = []
        for url in self._urls:
            sender = apprise.Apprise()
            ok = sender.add(_bounded(url, self._timeout_s)) and bool(
                sender.notify(body=body, title=title, notify_type=kind)
            )
            if not ok:
                log.warning("webhook %s: not delivered", shown_url(url))
            results.append(WebhookResult(shown_url(url), ok))
        return results
