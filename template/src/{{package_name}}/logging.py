"""One structlog pipeline for the service, the standard library and the server.

Every record, whether it comes from structlog or from a stdlib logger (the server, the
framework, the ORM, ...), is rendered by the same processors and written by one stdout
handler: JSON lines in production, a readable console format in development. Context bound with
`structlog.contextvars` (the request id, method and path) is merged into every line.

The service's own debug and info records (the access line of every request, above all) take a
short cut: structlog renders them and writes them through that handler's stream and lock, without
building a `logging.LogRecord`. That halves what an access line costs. Their warnings and errors
still go through the standard library, and so does every record while the root logger has any
other handler (pytest's `caplog`, an error tracker's): what a handler expects, it receives.

What the interpreter would otherwise print to stderr, outside the log, comes through it as well:
warnings, exceptions it cannot raise (in a finaliser, a generator collected unclosed) and those
that end a thread.
"""

import json
import logging
import sys
import threading
from collections.abc import Sequence
from typing import Any

import structlog

from .settings import Settings, get_settings

# Applied to structlog and stdlib records alike, before rendering.
_SHARED_PROCESSORS: list[structlog.typing.Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.ExtraAdder(),
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


# A log line is bounded whatever a client sends (a 20 KB query string, a 5 KB host name):
# longer fields are cut, and a JSON line that is still too long loses the tail of its fields.
MAX_FIELD = 1024  # characters of one field
MAX_LINE = 8192  # characters of one JSON line (JSON escapes all but ASCII: bytes too)


def _bound_fields(
    logger: Any, method_name: str, event_dict: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    for key, value in event_dict.items():
        if key == "exception" or isinstance(value, int | float | bool | None):
            continue
        text = value if isinstance(value, str) else repr(value)  # as the renderer would
        if len(text) > MAX_FIELD:
            event_dict[key] = f"{text[:MAX_FIELD]}... ({len(text) - MAX_FIELD} more characters)"
    return event_dict


class _BoundedJSONRenderer(structlog.processors.JSONRenderer):
    """JSON lines of at most MAX_LINE characters: an oversized line (a deep traceback, many
    long fields) keeps its event, level, logger and request id, and as much of the rest as
    fits, the traceback's innermost frames first."""

    KEEP = ("event", "level", "logger", "timestamp", "request_id")

    def __call__(self, logger: Any, name: str, event_dict: structlog.typing.EventDict) -> str:
        line = super().__call__(logger, name, event_dict)
        if len(line) <= MAX_LINE:
            return line
        kept = {key: event_dict[key] for key in self.KEEP if key in event_dict}
        kept["truncated"] = len(line)
        rest = sorted(event_dict.keys() - kept.keys(), key=lambda key: key != "exception")
        for key in rest:  # the traceback first
            value = event_dict[key]
            if key == "exception" and isinstance(value, list) and value:
                value = self._innermost_frames(kept, value[-1])
            candidate = {**kept, key: value}
            if _length(candidate) <= MAX_LINE:
                kept = candidate
        return json.dumps(kept, default=repr)

    @staticmethod
    def _innermost_frames(kept: dict[str, Any], error: Any) -> list[Any]:
        """The last exception of a chain, with as many of its innermost frames as fit."""
        frames = error.get("frames") if isinstance(error, dict) else None
        if not isinstance(frames, list):
            return [error]
        while frames and _length({**kept, "exception": [{**error, "frames": frames}]}) > MAX_LINE:
            frames = frames[1:]
        return [{**error, "frames": frames}]


def _length(record: dict[str, Any]) -> int:
    return len(json.dumps(record, default=repr))


# Prefixes of the loggers whose records are at most warnings (see `configure_logging`).
_client_faults: tuple[str, ...] = ()

# The handler the root logger writes through, and the processors that render for it.
_output: tuple[logging.StreamHandler[Any], list[structlog.typing.Processor]] | None = None


def _write_or_forward(
    logger: logging.Logger, method_name: str, event_dict: structlog.typing.EventDict
) -> Any:
    """The last structlog processor: write a debug or info record, hand others to `logger`."""
    output = _output
    handlers = logging.root.handlers
    if (
        output is None
        or structlog.stdlib.NAME_TO_LEVEL[method_name] >= logging.WARNING
        # Another handler is attached (pytest's caplog, say): it must see the record too.
        or len(handlers) != 1
        or handlers[0] is not output[0]
    ):
        return structlog.stdlib.ProcessorFormatter.wrap_for_formatter(
            logger, method_name, event_dict
        )
    handler, renderer = output
    line: Any = event_dict
    for processor in renderer:
        line = processor(logger, method_name, line)
    with handler.lock:  # type: ignore[union-attr]  # set by Handler.__init__
        handler.stream.write(line + handler.terminator)
        handler.flush()
    raise structlog.DropEvent  # written: nothing is left for the logger to do


def _renderer(log_format: str) -> list[structlog.typing.Processor]:
    if log_format == "json":
        return [
            # Structured tracebacks, but never local variables: they may hold secrets.
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            ),
            _bound_fields,
            _BoundedJSONRenderer(),
        ]
    return [_bound_fields, structlog.dev.ConsoleRenderer()]


def _formatter(renderer: list[structlog.typing.Processor]) -> structlog.stdlib.ProcessorFormatter:
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_SHARED_PROCESSORS,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer],
    )


def make_handler(settings: Settings | None = None) -> logging.Handler:
    """A stdout handler rendering through the structlog pipeline.

    The newest one becomes the handler the service's own records are written through: the root
    logger's (`configure_logging` and the server's logging configuration both call this).
    """
    global _output  # one per process, like the root logger's handlers
    settings = settings or get_settings()
    renderer = _renderer(settings.log_format)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(_formatter(renderer))
    if _client_faults:
        handler.addFilter(_AtMostWarning(_client_faults))
    _output = (handler, renderer)
    return handler


def _log_unraisable(unraisable: Any) -> None:  # a sys.UnraisableHookArgs (a typeshed name only)
    exc_info = (unraisable.exc_type, unraisable.exc_value, unraisable.exc_traceback)
    structlog.get_logger("py.unraisable").error(
        unraisable.err_msg or "Exception ignored",
        object=repr(unraisable.object)[:200],
        exc_info=exc_info if unraisable.exc_value is not None else None,
    )


def _log_thread_exception(failure: threading.ExceptHookArgs) -> None:
    if failure.exc_type is SystemExit:
        return  # a thread's normal way out, as Python's own hook treats it
    exc_info = (failure.exc_type, failure.exc_value, failure.exc_traceback)
    thread = failure.thread.name if failure.thread is not None else None
    structlog.get_logger("py.threading").error("thread_exception", thread=thread, exc_info=exc_info)


class _AtMostWarning(logging.Filter):
    """Records of these loggers report what a client did (a forged host, too many fields): an
    attacker can send that at will, so it is a warning, never an error that pages somebody."""

    def __init__(self, prefixes: Sequence[str]) -> None:
        super().__init__()
        self.prefixes = tuple(prefixes)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith(self.prefixes):
            record.levelno = min(record.levelno, logging.WARNING)
            record.levelname = logging.getLevelName(record.levelno)
        return True


def configure_logging(
    settings: Settings | None = None, *, client_faults: Sequence[str] = ()
) -> None:
    """Route structlog and the standard library through one handler. Safe to call again.

    `client_faults`: prefixes of the loggers whose records are at most warnings (added to
    those of earlier calls: Django's settings name them, the command line calls again).
    """
    settings = settings or get_settings()
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_SHARED_PROCESSORS,
            structlog.processors.StackInfoRenderer(),
            _write_or_forward,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    global _client_faults  # the handlers the server makes in its workers use them too
    _client_faults = tuple(dict.fromkeys((*_client_faults, *client_faults)))
    root = logging.getLogger()
    root.handlers = [make_handler(settings)]
    root.setLevel(settings.log_level)
    # The server (granian) installs handlers of its own; send its records to the root handler
    # instead, so that no line escapes the pipeline and none is written twice.
    for name in ("_granian", "granian.access"):
        server_logger = logging.getLogger(name)
        server_logger.handlers.clear()
        server_logger.propagate = True
    # The service writes its own access line (middleware), so the server's one is muted.
    logging.getLogger("granian.access").setLevel(logging.WARNING)
    # Nothing is written to stderr behind the log's back.
    logging.captureWarnings(True)  # warnings: records of the `py.warnings` logger
    sys.unraisablehook = _log_unraisable
    threading.excepthook = _log_thread_exception


def server_log_config(settings: Settings) -> dict[str, Any]:
    """A `logging.config.dictConfig` for the server, applied in its main and worker processes."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"structlog": {"()": f"{__name__}.make_handler"}},
        "root": {"handlers": ["structlog"], "level": settings.log_level},
        # The handlers granian gave its loggers are removed (dictConfig does so for each logger
        # it names); their records reach the root's.
        "loggers": {
            "_granian": {"propagate": True, "level": settings.log_level},
            "granian.access": {"propagate": True, "level": "WARNING"},
        },
    }
