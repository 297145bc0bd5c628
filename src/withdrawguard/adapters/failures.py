"""One line for a user, naming what failed and the setting or file to look at, for the
failures a command meets outside its own logic: Kafka or Redis unreachable or refusing,
a secret or users file that cannot be read, a file the user named that is missing.

`explain_failure` answers None for anything else: that is a defect of ours, and
`report_defect` writes its traceback to a file and says where, so a command still ends
with one line on stderr and the traceback is kept for the bug report.
"""

from __future__ import annotations

import tempfile
import time
import traceback
from pathlib import Path

from aiokafka import errors as aiokafka_errors
from kafka import errors as kafka_errors
from redis.exceptions import RedisError

from withdrawguard.adapters.redis_connection import explain
from withdrawguard.secret import SecretFileError
from withdrawguard.settings import Settings

_UNREACHABLE = (
    kafka_errors.KafkaTimeoutError,
    kafka_errors.KafkaConnectionError,
    aiokafka_errors.KafkaConnectionError,
    aiokafka_errors.NoBrokersAvailable,
    aiokafka_errors.KafkaTimeoutError,
)


def explain_kafka(exc: BaseException, settings: Settings) -> str | None:
    """A Kafka client's failure, or None when `exc` is not one."""
    where = f"Kafka at {settings.kafka_bootstrap} (WG_KAFKA_BOOTSTRAP)"
    if isinstance(exc, _UNREACHABLE):
        return f"{where} cannot be reached: {_text(exc)}"
    if isinstance(exc, kafka_errors.KafkaError | aiokafka_errors.KafkaError):
        return f"{where} failed: {_text(exc)}"
    return None


def explain_failure(exc: BaseException, settings: Settings) -> str | None:
    """One line for a failure of the world around the command, or None for a defect."""
    kafka = explain_kafka(exc, settings)
    if kafka is not None:
        return kafka
    if isinstance(exc, RedisError):
        return explain(exc, settings)
    if isinstance(exc, SecretFileError):
        return str(exc)
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror or type(exc).__name__}"
    if isinstance(exc, ConnectionError | TimeoutError):
        return f"a connection failed: {_text(exc)}"
    return None


def report_defect(exc: BaseException, data_dir: Path | None) -> str:
    """Write `exc`'s traceback to a file (under `data_dir` when it can be written, else
    the temporary directory) and say so in one line."""
    text = "".join(traceback.format_exception(exc))
    name = f"withdrawguard-error-{time.strftime('%Y%m%dT%H%M%S')}.txt"
    for folder in (data_dir, Path(tempfile.gettempdir())):
        if folder is None:
            continue
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / name
            path.write_text(text, encoding="utf-8")
        except OSError:
            continue
        return f"unexpected error {_text(exc)}; the traceback is in {path} (please report it)"
    return f"unexpected error {_text(exc)} (the traceback could not be written; please report it)"


def _text(exc: BaseException) -> str:
    message = str(exc)
    name = type(exc).__name__
    # kafka-python repeats the class name in its messages ("KafkaTimeoutError: ...")
    return message if message.startswith(name) else f"{name}: {message}" if message else name
