"""How every Kafka client of withdrawguard connects: TLS and SASL from the settings.

One place for it: the Faust app (`faust_credentials`), and the kafka-python clients
(`kafka_python_options`: topic administration, the scan's Kafka input, the registry
rebuild, the tests' producers and consumers). The password is read from
WG_KAFKA_SASL_PASSWORD_FILE (or WG_KAFKA_SASL_PASSWORD) when a client is made, and goes
only into the client's configuration; it is never logged.
"""

from __future__ import annotations

import ssl
from typing import Any

import faust

from withdrawguard.secret import Secret, read_secret_file
from withdrawguard.settings import Settings


def sasl_password(settings: Settings) -> Secret:
    """The SASL password, from its file or its variable."""
    if settings.kafka_sasl_password_file is not None:
        return read_secret_file(settings.kafka_sasl_password_file, "WG_KAFKA_SASL_PASSWORD_FILE")
    if settings.kafka_sasl_password is None:
        raise ValueError("no SASL password: set WG_KAFKA_SASL_PASSWORD_FILE")
    return settings.kafka_sasl_password


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """A TLS client context (hostname checked) for SSL protocols; None otherwise."""
    if not settings.kafka_security_protocol.endswith("SSL"):
        return None
    cafile = settings.kafka_ssl_cafile
    return ssl.create_default_context(cafile=str(cafile) if cafile else None)


def kafka_python_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for kafka-python's KafkaProducer, KafkaConsumer and
    KafkaAdminClient (empty for PLAINTEXT, the default)."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return {}
    options: dict[str, Any] = {"security_protocol": protocol}
    context = ssl_context(settings)
    if context is not None:
        options["ssl_context"] = context
    if protocol.startswith("SASL_"):
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        options["sasl_plain_password"] = sasl_password(settings).reveal()
    return options


def faust_credentials(settings: Settings) -> dict[str, Any]:
    """The Faust app's `broker_credentials` (empty for PLAINTEXT, the default)."""
    protocol = settings.kafka_security_protocol
    context = ssl_context(settings)
    if protocol == "PLAINTEXT":
        return {}
    if protocol == "SSL":
        return {"broker_credentials": faust.SSLCredentials(context)}
    credentials = faust.SASLCredentials(
        username=settings.kafka_sasl_username,
        password=sasl_password(settings).reveal(),
        ssl_context=context,
        mechanism=settings.kafka_sasl_mechanism,
    )
    return {"broker_credentials": credentials}
