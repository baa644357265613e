"""Where the transport dials: parsing ``address`` into host, port and whether to speak TLS."""

from __future__ import annotations

import ipaddress

import attrs
from viam_billing import ConfigurationError

__all__ = ["DEFAULT_ADDRESS", "Address", "parse_address"]

DEFAULT_ADDRESS = "app.viam.com:443"
"""Viam's cloud service, spoken to over TLS."""

_TLS_PORT = 443


@attrs.frozen(kw_only=True)
class Address:
    """A parsed service address: ``host``, ``port`` and ``tls`` (``False``: plaintext HTTP/2)."""

    host: str
    port: int
    tls: bool

    @property
    def authority(self) -> str:
        """``host:port``, with an IPv6 host in brackets (``[::1]:8080``)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def __str__(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.authority}"


def parse_address(address: str | None = None, *, insecure: bool = False) -> Address:
    """Parse a service address.

    Accepted forms: ``host:port`` (TLS, or plaintext with ``insecure=True``), ``https://host[:port]`` (TLS, port
    443 by default), ``http://host:port`` (plaintext, with ``insecure=True`` only), a bare ``host`` (port 443).
    IPv6 hosts go in brackets: ``[::1]:8080``. ``None`` means :data:`DEFAULT_ADDRESS` over TLS.

    Plaintext is spoken only when the caller asks for it with ``insecure=True``: credentials sent without TLS can
    be read by anyone on the way, so an ``http://`` address alone never turns TLS off.

    >>> parse_address("127.0.0.1:8080", insecure=True)
    Address(host='127.0.0.1', port=8080, tls=False)

    Raises :class:`~viam_billing.ConfigurationError` naming the address when it cannot be used, or when it
    contradicts ``insecure`` (``https://`` with ``insecure=True``, ``http://`` without it).
    """
    if address is None:
        address = DEFAULT_ADDRESS
    if not isinstance(address, str) or not address.strip():
        raise ConfigurationError(f"address must be a non-empty string such as 'host:port', got {address!r}")
    text = address.strip()
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "", text
    scheme = scheme.lower()
    if scheme == "https":
        if insecure:
            raise ConfigurationError(
                f"address {address!r} asks for TLS (https://) but insecure=True asks for plaintext; "
                "use http://host:port or drop insecure=True"
            )
        tls = True
    elif scheme == "http":
        if not insecure:
            raise ConfigurationError(
                f"address {address!r} asks for plaintext (http://), which sends the credentials unencrypted; "
                "pass insecure=True (--insecure on the command line) if that is what you want, or use "
                "https://host[:port] or host:port for TLS"
            )
        tls = False
    elif scheme == "":
        tls = not insecure
    else:
        raise ConfigurationError(
            f"address {address!r} has the scheme {scheme!r}; use host:port, https://host[:port] or http://host:port"
        )
    rest = rest.rstrip("/")
    if not rest or "/" in rest or "@" in rest or "?" in rest:
        raise ConfigurationError(f"address {address!r} must be host[:port] with no path, user or query")
    host, port_text = _split_host_port(rest, address)
    if port_text is None:
        if scheme == "http":
            raise ConfigurationError(f"address {address!r} needs a port: http://host:port")
        port = _TLS_PORT
    else:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ConfigurationError(f"address {address!r} has the port {port_text!r}; it must be 1-65535")
        port = int(port_text)
    return Address(host=host, port=port, tls=tls)


def _split_host_port(text: str, address: str) -> tuple[str, str | None]:
    if text.startswith("["):
        host, bracket, after = text[1:].partition("]")
        if not bracket or not host:
            raise ConfigurationError(f"address {address!r} has an unclosed '[' around its IPv6 host")
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ConfigurationError(f"address {address!r}: {host!r} is not an IPv6 address") from None
        if not after:
            return host, None
        if not after.startswith(":"):
            raise ConfigurationError(f"address {address!r} must be [ipv6]:port")
        return host, after[1:]
    if text.count(":") > 1:
        raise ConfigurationError(f"address {address!r}: put an IPv6 host in brackets, as in [::1]:8080")
    host, colon, port = text.partition(":")
    if not host:
        raise ConfigurationError(f"address {address!r} has no host")
    return host, (port if colon else None)
