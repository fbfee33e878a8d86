"""One structlog pipeline for the service, the standard library and the server.

Every record, whether it comes from structlog or from a stdlib logger (the server, SQLAlchemy,
Alembic, ...), is rendered by the same `ProcessorFormatter` on one stdout handler: JSON lines in
production, a readable console format in development. Context bound with
`structlog.contextvars` (the request id, method and path) is merged into every line.
"""

import logging
import sys
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


def _formatter(log_format: str) -> structlog.stdlib.ProcessorFormatter:
    if log_format == "json":
        renderer: list[structlog.typing.Processor] = [
            # Structured tracebacks, but never local variables: they may hold secrets.
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            ),
            structlog.processors.JSONRenderer(),
        ]
    else:
        renderer = [structlog.dev.ConsoleRenderer()]
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_SHARED_PROCESSORS,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer],
    )


def make_handler(settings: Settings | None = None) -> logging.Handler:
    """A stdout handler rendering through the structlog pipeline."""
    settings = settings or get_settings()
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(_formatter(settings.log_format))
    return handler


def configure_logging(settings: Settings | None = None) -> None:
    """Route structlog and the standard library through one handler. Safe to call again."""
    settings = settings or get_settings()
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_SHARED_PROCESSORS,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    root = logging.getLogger()
    root.handlers = [make_handler(settings)]
    root.setLevel(settings.log_level)
    # Servers install handlers of their own; send their records to the root handler instead,
    # so that no line escapes the pipeline and none is written twice.
    for name in ("_granian", "granian.access", "uvicorn", "uvicorn.error", "uvicorn.access"):
        server_logger = logging.getLogger(name)
        server_logger.handlers.clear()
        server_logger.propagate = True
    # The service writes its own access line (middleware), so the servers' ones are muted.
    for name in ("granian.access", "uvicorn.access"):
        logging.getLogger(name).setLevel(logging.WARNING)


def server_log_config(settings: Settings) -> dict[str, Any]:
    """A `logging.config.dictConfig` for the server, applied in its main and worker processes."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"structlog": {"()": f"{__name__}.make_handler"}},
        "root": {"handlers": ["structlog"], "level": settings.log_level},
        "loggers": {
            "_granian": {"handlers": [], "propagate": True, "level": settings.log_level},
            "granian.access": {"handlers": [], "propagate": True, "level": "WARNING"},
        },
    }
