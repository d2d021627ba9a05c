"""The generated references: docs/settings.md and docs/migrating-from-uvicorn.md.

Both come from the setting declarations (mypkg/config/settings/) alone; ``python -m mypkg.docgen``
writes them and the tests check that the files are current. The uvicorn page is also checked
against uvicorn's own click options (tests/config/test_uvicorn_compat.py), so a flag uvicorn adds
shows up as a failing test rather than a silent gap.
"""

from __future__ import annotations

from typing import Any

from mypkg.config.descriptor import ENV_PREFIX, SETTINGS, Setting

# uvicorn flags mypkg does not accept, and why. The test walking uvicorn's options checks this
# list is complete and that mypkg's parser really refuses each.
NOT_ACCEPTED = {
    "--h11-max-incomplete-event-size": "mypkg bounds the request head the same way for both"
    " parsers with --limit-request-line, --limit-request-fields, --limit-request-field-size"
    " and --timeout-request-head; an h11-only knob would make the parsers differ.",
}


def reference_markdown() -> str:
    """The settings reference in docs/settings.md."""
    lines = [
        "# Settings reference",
        "",
        "Generated from `mypkg/config/settings/` by `python -m mypkg.docgen`; do not edit by hand.",
        "Each setting can be given as a command-line flag, a `MYPKG_*` environment variable, a key",
        "in the TOML file named by `--config`, or a keyword argument of `mypkg.Config` /",
        '`mypkg.run`. Precedence: flag > environment > file > default. An alias ("Also") works',
        "on every surface; the variables other servers read (`WEB_CONCURRENCY`,",
        "`FORWARDED_ALLOW_IPS`, `UVICORN_*`) are read by the command line after `MYPKG_*`.",
    ]
    section = None
    for setting in SETTINGS.values():
        if setting.section != section:
            section = setting.section
            lines += [
                "",
                f"## {section}",
                "",
                "| Flag | Environment | TOML key | Default | Meaning |",
            ]
            lines.append("|---|---|---|---|---|")
        options = f" One of: {', '.join(setting.options)}." if setting.options else ""
        key = f"`{setting.name}`" if setting.in_file else "—"
        default = "—" if setting.default in (None, []) else f"`{_shown(setting.default)}`"
        meaning = f"{setting.help}{options}{_also(setting)}"
        lines.append(
            f"| `{_flag_text(setting)}` | `{setting.env}` | {key} | {default} | {meaning} |"
        )
    return "\n".join(lines) + "\n"


def migrating_markdown() -> str:
    """docs/migrating-from-uvicorn.md: every uvicorn flag and variable, with mypkg's spelling."""
    lines = [
        *_MIGRATING_INTRO,
        "| uvicorn | mypkg | Environment | Difference |",
        "|---|---|---|---|",
    ]
    for setting in SETTINGS.values():
        if setting.uvicorn is None:
            continue
        theirs = setting.uvicorn.flag or (
            setting.name.upper() if setting.kind == "positional" else setting.flag
        )
        refused = ""
        if setting.uvicorn.refused:
            refused = f" Not accepted: {', '.join(setting.uvicorn.refused)}."
        env = f"`{setting.env}` (`{setting.uvicorn_env}` read, deprecated)"
        env += "".join(f"; `{name}`" for name in setting.env_aliases)
        note = (setting.uvicorn.note + refused).strip().replace("|", "\\|") or "The same."
        lines.append(f"| `{theirs}` | `{_flag_text(setting)}` | {env} | {note} |")
    lines += ["", "## Not accepted", ""]
    lines += [f"* `{flag}`: {why}" for flag, why in NOT_ACCEPTED.items()]
    lines += ["", *_MIGRATING_OUTRO]
    return "\n".join(lines) + "\n"


_MIGRATING_INTRO = [
    "# Migrating from uvicorn",
    "",
    "Generated from `mypkg/config/settings/` by `python -m mypkg.docgen`; do not edit by hand.",
    "Checked against uvicorn 0.54's own options by `tests/config/test_uvicorn_compat.py`.",
    "",
    "`uvicorn main:app --workers 4 --proxy-headers` becomes",
    "`mypkg-supervise main:app --workers 4 --proxy-headers`: every uvicorn flag below is accepted",
    "with the same spelling and values unless the last column says otherwise. From Python,",
    "`uvicorn.run(...)` is `mypkg.run(...)` with the same keyword arguments, `uvicorn.Config` /",
    "`uvicorn.Server` are `mypkg.Config` / `mypkg.Server`.",
    "",
    "Environment: the command line reads `UVICORN_*` variables after the `MYPKG_*` ones, with a",
    "one-line deprecation note naming the `MYPKG_*` variable to use instead; `WEB_CONCURRENCY`",
    "(workers) and `FORWARDED_ALLOW_IPS` are read as uvicorn reads them (the Gunicorn worker",
    "leaves them to Gunicorn). `mypkg.run` and `mypkg.Config` read no environment variables.",
    "",
]

_MIGRATING_OUTRO = [
    "## Other differences",
    "",
    "* One worker is one worker, as in uvicorn: without `--workers`, or with `-w 1`, mypkg serves",
    "  in one process; with `-w N` (N > 1), `--reload`, or a setting only the master has (`--pid`,",
    "  `--user`, `--limit-max-requests-jitter`, `--timeout-worker-healthcheck`, ...), it runs its",
    "  own master. `--limit-max-requests` in one process exits it, as uvicorn's does.",
    "* Exit codes: 2 for a bad setting, 3 when the app cannot be imported, 4 when startup fails",
    "  (lifespan, binding); scripts that test uvicorn's exit codes need to learn these.",
    "* Logger names are `mypkg.error` and `mypkg.access` (uvicorn's are `uvicorn.error` and",
    "  `uvicorn.access`): rename them in a `--log-config` file.",
    "* `uvicorn.middleware.proxy_headers.ProxyHeadersMiddleware` is",
    "  `mypkg.middleware.ProxyHeadersMiddleware`; `uvicorn.middleware.debug.DebugMiddleware`",
    "  (gone from uvicorn) is `mypkg.middleware.DebugMiddleware`, for development only.",
]


def _flag_text(setting: Setting[Any]) -> str:
    if setting.kind == "positional":
        return setting.name.upper()
    flags = setting.flags
    if setting.kind == "toggle":
        flags = [f"{flag} / --no-{flag[2:]}" for flag in flags]
    text = ", ".join(flags)
    return f"{setting.short}, {text}" if setting.short else text


def _also(setting: Setting[Any]) -> str:
    names = [f"`{ENV_PREFIX}{alias.upper()}`, `{alias}`" for alias in setting.aliases]
    names += [f"`{name}`" for name in setting.env_aliases]
    return f" Also: {', '.join(names)}." if names else ""


def _shown(value: object) -> str:
    """A default as a user would type it: lists comma-separated, like the environment takes."""
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)
