"""docs/security.md's grants for the policy topics, applied as written to a broker with
Kafka's authorizer on (`acl_kafka`): the admins' command (user `withdrawguard-policy`)
publishes, its transaction included; the workers (user `withdrawguard`) read both
topics and are refused every write to them, though a grant of their own topics (here
everything, `*`) would allow it: the Deny wins. A write the broker refuses applies
nothing."""

from __future__ import annotations

import asyncio
import re
import shlex
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiokafka.errors import KafkaError as AIOKafkaError
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import (
    ACL,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    ResourcePattern,
    ResourceType,
)
from kafka.errors import KafkaError

from tests.integration.harness import ROOT
from tests.integration.secure_kafka import AclKafka
from withdrawguard.adapters.kafka_security import kafka_python_options
from withdrawguard.adapters.policy_writes import PolicyWriter
from withdrawguard.adapters.topic_admin import create_topics
from withdrawguard.policy import actions
from withdrawguard.policy.log import PolicyLogError, append, read_audit, read_catalog
from withdrawguard.settings import Settings

pytestmark = pytest.mark.integration

NOW = 1_796_000_000_000
T = TypeVar("T")


def doc_grants() -> list[ACL]:
    """The `$ACLS ...` lines of docs/security.md's policy-topics block, as ACLs."""
    text = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    block = text[text.index('ACLS="kafka-acls.sh') :]
    block = block[: block.index("```")].replace("\\\n", " ")
    grants = []
    for line in block.splitlines():
        if not line.startswith("$ACLS "):
            continue
        words = shlex.split(line)[1:]
        opts: dict[str, list[str]] = {}
        for flag, value in zip(words[::2], words[1::2], strict=True):
            opts.setdefault(flag, []).append(value)
        allow = "--allow-principal" in opts
        principal = (opts.get("--allow-principal") or opts["--deny-principal"])[0]
        if "--topic" in opts:
            kind, name = ResourceType.TOPIC, opts["--topic"][0]
        else:
            kind, name = ResourceType.TRANSACTIONAL_ID, opts["--transactional-id"][0]
        pattern = opts.get("--resource-pattern-type", ["literal"])[0].upper()
        for operation in opts["--operation"]:
            grants.append(
                ACL(
                    principal=principal,
                    host="*",
                    operation=ACLOperation[re.sub(r"(?<!^)(?=[A-Z])", "_", operation).upper()],
                    permission_type=(ACLPermissionType.ALLOW if allow else ACLPermissionType.DENY),
                    resource_pattern=ResourcePattern(kind, name, ACLResourcePatternType[pattern]),
                )
            )
    return grants


def settings_of(acl_kafka: AclKafka, user: str, tmp_path: Path) -> Settings:
    return Settings(**acl_kafka.settings(user), app_id="withdrawguard", data_dir=tmp_path / user)


def eventually(what: Callable[[], T], timeout_s: float = 20) -> T:
    """ACLs reach the broker through the metadata log: a moment after they are made."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return what()
        except (KafkaError, PolicyLogError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_the_docs_grants_let_the_command_write_and_the_workers_only_read(
    acl_kafka: AclKafka, tmp_path: Path
) -> None:
    admin_settings = settings_of(acl_kafka, "admin", tmp_path)
    create_topics(admin_settings, log=lambda _line: None)
    grants = doc_grants()
    assert len(grants) == 10, grants  # the block's seven lines, three with two operations
    # the workers' own grant, as a prefixed grant of their topics would give them
    everything = ResourcePattern(ResourceType.TOPIC, "*", ACLResourcePatternType.LITERAL)
    grants.append(
        ACL("User:withdrawguard", "*", ACLOperation.ALL, ACLPermissionType.ALLOW, everything)
    )
    admin = KafkaAdminClient(
        bootstrap_servers=acl_kafka.bootstrap, **kafka_python_options(admin_settings)
    )
    try:
        made = admin.create_acls(grants)
        assert not made["failed"], made["failed"]
    finally:
        admin.close()

    command = settings_of(acl_kafka, "withdrawguard-policy", tmp_path)
    plan = actions.publish(
        eventually(lambda: read_catalog(command, warn=pytest.fail)),
        "[decision]\nhold_score = 55\n",
        "ada",
        "through the command",
        NOW,
        "live",
    )
    eventually(lambda: append(command, plan, timeout_s=10))

    workers = settings_of(acl_kafka, "withdrawguard", tmp_path)
    assert read_catalog(workers, warn=pytest.fail).live == plan.version
    assert [e.note for e in read_audit(workers, warn=pytest.fail)] == ["through the command"]

    catalog = read_catalog(workers, warn=pytest.fail)
    again = actions.publish(
        catalog, "[decision]\nhold_score = 45\n", "ada", "from a worker", NOW + 1, "live"
    )
    with pytest.raises(PolicyLogError, match="not written, nothing of it applies"):
        append(workers, again, timeout_s=10)  # the CLI run with the workers' login
    with pytest.raises(AIOKafkaError):
        asyncio.run(_console_write(workers, again))  # the console's writer
    refused = _plain_write(workers)
    assert "TopicAuthorizationFailed" in refused, refused  # the Deny beats the grant of `*`
    after = read_catalog(command, warn=pytest.fail)
    assert (after.live, again.version in after.versions) == (plan.version, False)
    assert len(read_audit(command, warn=pytest.fail)) == 1


async def _console_write(settings: Settings, plan: actions.Plan) -> Any:
    writer = PolicyWriter(settings, timeout_s=10)
    try:
        return await writer(plan.policies, ((plan.version or "none").encode(), plan.audit))
    finally:
        await writer.close()


def _plain_write(settings: Settings) -> str:
    """What the broker answers a plain (not transactional) write to `policies`."""
    producer = KafkaProducer(
        bootstrap_servers=settings.bootstrap_servers, **kafka_python_options(settings)
    )
    try:
        producer.send("policies", key=b"live", value=b"{}").get(timeout=10)
    except KafkaError as exc:
        return type(exc).__name__
    finally:
        producer.close()
    return "written"
