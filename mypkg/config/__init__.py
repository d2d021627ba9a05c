"""The config layer: every setting declared once, parsed from every source, documented.

* ``descriptor``: the ``Setting`` descriptor, ``Origin`` and ``apply``;
* ``settings``: the declarations, by area, and ``Settings`` which gathers them;
* ``values``, ``binds``: the value parsers (every one of them: formats, TLS, addresses);
* ``sources``: MYPKG_* environment, TOML and .env files; ``argv``: the command line;
* ``core``: ``Config``, which reads them in order and checks settings together;
* ``tlscontext``: the TLS settings made into one checked SSLContext;
* ``reference``: the generated docs (docs/settings.md, docs/migrating-from-uvicorn.md).

Nothing here imports the runtime (server, state, http, websocket, supervisor, workers):
runtime modules depend on config, never the reverse.
"""

from mypkg.config.core import Config

__all__ = ["Config"]
