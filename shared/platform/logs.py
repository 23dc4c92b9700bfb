"""Structured JSON logs for everything a service prints: our structlog calls, stdlib loggers and
FastStream's own lines. Each line carries the service and, while a message is being handled,
its event id and source. Personal data (NIP, names) is logged at debug level only; as a last
guard, any 18-digit run in a line above debug (an exception text quoting a document key) is masked."""

import logging
import sys

import structlog

from ..contract.nip import mask_nips


def configure(service: str, level: str = "info") -> structlog.stdlib.BoundLogger:
    numeric = logging.getLevelName(level.upper())
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                mask_personal_data,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(numeric)
    # FastStream gives its logger a plain-text stderr handler of its own and stops propagation at
    # import: its lines (a failed handler's traceback) would bypass this handler and the masking.
    faststream = logging.getLogger("faststream")
    faststream.handlers = []
    faststream.propagate = True
    structlog.contextvars.bind_contextvars(service=service)
    return structlog.get_logger(service)


def bind_event(event_id: str, source: str) -> None:
    """For the rest of this message's handling (each message runs in its own task)."""
    structlog.contextvars.bind_contextvars(event_id=event_id, event_source=source)


def mask_personal_data(_logger, _method: str, event: dict) -> dict:
    """structlog processor: NIPs masked in every value of a line above debug, the rendered
    traceback included (libraries' exception texts quote the keys they failed on)."""
    if event.get("level") == "debug":
        return event
    return {key: _masked(value) for key, value in event.items()}


def _masked(value):
    if isinstance(value, str):
        return mask_nips(value)
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_masked(v) for v in value]
    return value


def describe(exc: BaseException) -> str:
    """An exception for a log line above debug: its type and the start of its text, NIPs masked.
    The full traceback belongs at debug level."""
    return f"{type(exc).__name__}: {mask_nips(str(exc))[:300]}"
