"""TLS for a TCP listener that other machines may reach (``vigil up --allow-remote``).

Plain HTTP never leaves loopback: the bearer token would travel in clear text. A listener on
any other address therefore needs ``--tlscert`` and ``--tlskey``; both are loaded here first,
so a missing file or a key that does not match the certificate is one clear line before the
daemon starts rather than an error inside the server.
"""

from __future__ import annotations

import ssl

from vigil.api.server import HostAddress, TLSFiles
from vigil.exceptions import ConfigError


def tls_files(
    endpoint: HostAddress, cert: str | None, key: str | None, *, allow_remote: bool
) -> TLSFiles | None:
    """The checked TLS files for serving at ``endpoint``, or None for plain HTTP.
    Raises ConfigError naming the flag at fault."""
    if (cert is None) != (key is None):
        missing = "--tlskey" if key is None else "--tlscert"
        raise ConfigError(f"{missing} is missing: --tlscert and --tlskey go together")
    kind, _ = endpoint
    if cert is None or key is None:
        if allow_remote:
            raise ConfigError(
                "--allow-remote needs --tlscert and --tlskey: without TLS the API token and "
                "every request would cross the network in clear text"
            )
        return None
    if kind != "tcp":
        raise ConfigError("--tlscert and --tlskey are for tcp:// hosts, not unix sockets")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except OSError as exc:  # ssl.SSLError is one
        reason = exc.strerror or getattr(exc, "reason", None) or str(exc)
        raise ConfigError(f"--tlscert {cert} / --tlskey {key}: {reason}") from None
    return TLSFiles(cert, key)
