"""`rpchost` -> kombu broker URLs.

The original accepted a bare host ("an IP address is sufficient"); operators of today's OpenStack write
oslo.messaging transport URLs (`rabbit://user:pass@h1:5672,user:pass@h2:5672/vhost`) listing every node of a
RabbitMQ cluster. Both become a list of amqp(s) URLs that kombu fails over between.
"""

from __future__ import annotations

from urllib.parse import quote, unquote, urlsplit

from rpcdaemon.redaction import redact_text


class BusUrlError(ValueError):
    pass


def broker_urls(rpchost: str) -> list[str]:
    text = rpchost.strip()
    if not text:
        return []
    if "://" not in text:
        host, _, port = text.partition(":")
        if not host or (port and not port.isdigit()):
            raise BusUrlError(f"rpchost {text!r} is neither a host, a host:port nor a URL")
        return [f"amqp://guest:guest@{host}:{port or 5672}//"]
    scheme, _, rest = text.partition("://")
    scheme = scheme.lower()
    if scheme not in ("amqp", "amqps", "rabbit", "rabbit+ssl", "pyamqp"):
        raise BusUrlError(f"rpchost {redact_text(text)!r}: unsupported scheme {scheme!r} (amqp, amqps or rabbit)")
    netlocs, slash, tail = rest.partition("/")
    vhost, _, query = tail.partition("?")
    ssl = scheme in ("amqps", "rabbit+ssl") or "ssl=1" in query or "ssl=true" in query.lower()
    out_scheme = "amqps" if ssl else "amqp"
    vhost = unquote(vhost) if slash else "/"
    path = "//" if vhost in ("", "/") else "/" + quote(vhost, safe="")
    urls = []
    for netloc in netlocs.split(","):
        if not netloc:
            continue
        parsed = urlsplit(f"x://{netloc}")
        if not parsed.hostname:
            raise BusUrlError(f"rpchost {redact_text(text)!r}: a host is missing")
        try:
            node_port = parsed.port or (5671 if ssl else 5672)
        except ValueError:
            raise BusUrlError(f"rpchost {redact_text(text)!r}: bad port") from None
        creds = ""
        if parsed.username is not None:
            creds = parsed.username + (f":{parsed.password}" if parsed.password is not None else "") + "@"
        urls.append(f"{out_scheme}://{creds}{parsed.hostname}:{node_port}{path}")
    if not urls:
        raise BusUrlError(f"rpchost {redact_text(text)!r}: no host")
    return urls
