"""The settings of connections beyond plain HTTP: WebSockets, TLS, proxies in front."""

from __future__ import annotations

from mypkg.config.descriptor import Setting, Uvicorn
from mypkg.config.values import (
    PROXY_MODES,
    XFORWARDED,
    address_list,
    boolean,
    cert_reqs,
    choice,
    integer,
    number,
    optional,
    text,
    tls_version,
)


class WebSocketSettings:
    section = "WebSockets"

    ws = Setting(
        "auto",
        choice("auto", "websockets", "websockets-sansio", "none"),
        "WebSocket support: 'auto' uses the websockets package when it is installed; 'none'"
        " answers upgrade requests as plain HTTP.",
        uvicorn=Uvicorn(
            refused=("wsproto",),
            note=(
                "'websockets' and 'websockets-sansio' are the same: mypkg always runs the "
                "websockets library's sans-I/O protocol. wsproto is not available."
            ),
        ),
    )
    ws_max_size = Setting(
        1024 * 1024,
        integer(1),
        "Largest incoming WebSocket message in bytes, after decompression; a larger one closes"
        " the connection (1009). Also the most bytes buffered for an app that reads slower than"
        " its client sends. uvicorn's default is 16 MiB; this is the websockets library's.",
        uvicorn=Uvicorn(
            note="The default is 1 MiB (uvicorn's 16 MiB), and it also bounds buffering."
        ),
    )
    ws_max_queue = Setting(
        16,
        integer(1),
        "Incoming WebSocket messages buffered for an app that reads slower than its client"
        " sends; beyond this (or beyond --ws-max-size bytes) the server stops reading from that"
        " client until the app catches up. uvicorn's default is 32; this is the websockets"
        " library's.",
        uvicorn=Uvicorn(note="The default is 16 (uvicorn's 32)."),
    )
    ws_ping_interval = Setting(
        20.0,
        number(0),
        "Seconds between keepalive pings on each open WebSocket; 0 sends none.",
        uvicorn=Uvicorn(),
    )
    ws_ping_timeout = Setting(
        20.0,
        number(0),
        "Seconds to wait for the pong to a keepalive ping before closing the connection (1011),"
        " and for a client to finish a closing handshake before the socket is cut; 0 waits"
        " forever for pongs (closing handshakes then get 10 s).",
        uvicorn=Uvicorn(),
    )
    ws_per_message_deflate = Setting(
        True,
        boolean,
        "Offer the permessage-deflate compression extension to WebSocket clients.",
        kind="toggle",
        uvicorn=Uvicorn(
            note=(
                "--ws-per-message-deflate true|false as in uvicorn; also the bare flag and --no-"
                "ws-per-message-deflate."
            ),
        ),
    )


class TlsSettings:
    section = "TLS"

    ssl_keyfile = Setting[str | None](
        None,
        optional(text),
        "PEM private key for --ssl-certfile (not needed when the certificate file holds it).",
        metavar="PATH",
        uvicorn=Uvicorn(),
    )
    ssl_certfile = Setting[str | None](
        None,
        optional(text),
        "PEM certificate (chain) to serve HTTPS with; setting it turns TLS on.",
        metavar="PATH",
        example="/etc/ssl/app/fullchain.pem",
        uvicorn=Uvicorn(),
    )
    ssl_keyfile_password = Setting[str | None](
        None,
        optional(text),
        "Password of an encrypted --ssl-keyfile. Prefer the environment variable to the flag.",
        metavar="PASSWORD",
        uvicorn=Uvicorn(),
    )
    ssl_version = Setting(
        "TLSv1.2",
        tls_version,
        "Lowest TLS version accepted. uvicorn's and Gunicorn's ssl.PROTOCOL_* numbers are"
        " understood (2 and 17 mean TLSv1.2).",
        uvicorn=Uvicorn(
            note=(
                "A minimum version; uvicorn's ssl.PROTOCOL_* numbers (2, 17) mean TLSv1.2, names "
                "such as TLSv1.3 work too."
            ),
        ),
    )
    ssl_cert_reqs = Setting(
        "none",
        cert_reqs,
        "Client certificates (mutual TLS): 'required' refuses a client without a valid one,"
        " 'optional' verifies one if sent. Needs --ssl-ca-certs. 0, 1, 2 are accepted too.",
        uvicorn=Uvicorn(note="0, 1, 2 as in uvicorn, or none, optional, required."),
    )
    ssl_ca_certs = Setting[str | None](
        None,
        optional(text),
        "PEM file of the CA certificates that client certificates must be signed by.",
        metavar="PATH",
        uvicorn=Uvicorn(),
    )
    ssl_ciphers = Setting[str | None](
        None,
        optional(text),
        "OpenSSL cipher list for TLS 1.2 and below (TLS 1.3 suites are OpenSSL's defaults);"
        " unset means Python's secure defaults.",
        metavar="CIPHERS",
        example="ECDHE+AESGCM",
        uvicorn=Uvicorn(),
    )


class ProxySettings:
    section = "Proxies"

    proxy_headers = Setting(
        True,
        boolean,
        "Take the client address and scheme from proxy headers (see --proxy-headers-mode) when"
        " the peer is in --forwarded-allow-ips.",
        kind="toggle",
        uvicorn=Uvicorn(
            note="X-Forwarded-For / X-Forwarded-Proto as in uvicorn; RFC 7239 Forwarded instead"
            " with --proxy-headers-mode forwarded."
        ),
    )
    proxy_headers_mode = Setting(
        XFORWARDED,
        choice(*PROXY_MODES),
        "Which proxy headers are read: 'xforwarded' (X-Forwarded-For / X-Forwarded-Proto, as"
        " uvicorn reads them) or 'forwarded' (RFC 7239 Forwarded). Never both: the other family"
        " is ignored, so a client cannot name itself in the one its proxy passes through"
        " untouched. Make your proxy set (and overwrite) the family chosen here.",
    )
    forwarded_allow_ips = Setting(
        ["127.0.0.1", "::1"],
        address_list,
        "Peers trusted to send proxy headers: IP addresses and CIDR networks, comma-separated;"
        " '*' trusts everyone, 'unix:' trusts clients of a UNIX socket.",
        metavar="ADDRESSES",
        example="127.0.0.1,10.0.0.0/8,unix:",
        env_aliases=("FORWARDED_ALLOW_IPS",),
        uvicorn=Uvicorn(),
    )
