"""The logging settings: the server's own messages and the access log."""

from __future__ import annotations

from mypkg.config.descriptor import Setting, Uvicorn
from mypkg.config.values import (
    DEFAULT_FORMAT,
    boolean,
    check_format,
    choice,
    listing,
    optional,
    text,
)

LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


class LoggingSettings:
    section = "Logging"

    log_level = Setting(
        "info", choice(*LOG_LEVELS), "Log level of the server's own messages.", uvicorn=Uvicorn()
    )
    log_config = Setting[str | None](
        None,
        optional(text),
        "A logging configuration file: dictConfig as .json, .toml or .yaml/.yml (YAML needs"
        " PyYAML), anything else is read as INI (fileConfig). It replaces mypkg's own handlers;"
        " loggers it does not name stay enabled, and --log-level applies to mypkg.* loggers"
        " it leaves unset. The file is code, like Gunicorn's: an INI file's handler arguments"
        " are evaluated by Python and any format can name classes to instantiate, so only a"
        " file as trusted as the app belongs here.",
        metavar="PATH",
        example="logging.yaml",
        uvicorn=Uvicorn(
            note=(
                "Also .toml. The file replaces mypkg's handlers but leaves loggers it does not "
                "name enabled."
            ),
        ),
    )
    use_colors = Setting[bool | None](
        None,
        optional(boolean),
        "Color the level names in mypkg's own log lines; by default only when stderr is a"
        " terminal.",
        kind="toggle",
        uvicorn=Uvicorn(),
    )
    access_log = Setting(
        True, boolean, "Log one line per request.", kind="toggle", uvicorn=Uvicorn()
    )
    log_format = Setting(
        "text",
        choice("text", "json"),
        "Log lines as text, or one JSON object per line (timestamp, level, logger, message, pid;"
        " access lines add client, method, path, query, status, bytes, duration_us, request_id,"
        " user_agent, referer, headers). Ignored when --log-config is given.",
    )
    access_log_header = Setting[list[str]](
        [],
        listing(text),
        "A request header to add to the access log's 'headers' field (JSON lines and LogRecord"
        " extras); repeat for more.",
        kind="append",
        metavar="NAME",
        example=["X-Forwarded-For"],
    )
    request_id_header = Setting[str | None](
        None,
        optional(text),
        "Take a request id from this header (or make one when it is missing or not a plain"
        " token), put it in scope['state']['request_id'] (Starlette: request.state.request_id),"
        " send it back in the response under the same name, and log it.",
        metavar="NAME",
        example="X-Request-ID",
    )
    access_log_format = Setting(
        DEFAULT_FORMAT,
        check_format,
        "The access log line, in Gunicorn's atoms: %(h)s client, %(r)s request line, %(s)s"
        " status, %(b)s body bytes, %(L)s seconds, %({name}i)s a request header, ... (see"
        " docs/access-log.md).",
        example='%(h)s "%(r)s" %(s)s %(M)sms %({x-request-id}i)s',
    )
