"""Which policy a scan runs: `--policy SPEC` and `--against SPEC`.

A SPEC is one of:
- `default`: the packaged default policy;
- `live`: the version the `policies` topic says runs live;
- 8 hex digits: that published version (its id, the suffix of a verdict's
  `detector_version`);
- anything else: a policy file (TOML), laid over the default as the worker lays
  `WG_POLICY_FILE`. Write `./live` or `./1a2b3c4d` for a file with such a name.

The catalog (the `policies` topic) is read only when a SPEC needs it, and once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from withdrawguard.contract.topics import POLICIES, TopicNames
from withdrawguard.engine.policy import Policy, PolicyError, fingerprint, load_policy
from withdrawguard.policy.versions import Catalog
from withdrawguard.settings import Settings

_VERSION_ID = re.compile(r"^[0-9a-f]{8}$")


class SpecError(ValueError):
    """A SPEC that names no usable policy; the message says which and why."""


@dataclass(frozen=True, slots=True)
class ChosenPolicy:
    spec: str
    """As given on the command line."""
    policy: Policy
    id: str
    """The policy's fingerprint (a published version's id)."""
    described: str
    """In words: `file stricter.toml`, `live version 1a2b3c4d`, ..."""


class CatalogOnce:
    """The catalog from `read`, read at the first call only (a failure is kept too)."""

    def __init__(self, read: Callable[[], Catalog]) -> None:
        self.read = read
        self._catalog: Catalog | None = None
        self._error: SpecError | None = None

    def __call__(self) -> Catalog:
        if self._error is not None:
            raise self._error
        if self._catalog is None:
            try:
                self._catalog = self.read()
            except SpecError as exc:
                self._error = exc
                raise
        return self._catalog


def choose(spec: str, catalog: Callable[[], Catalog], flag: str = "--policy") -> ChosenPolicy:
    """The policy `spec` (given with `flag`) names; SpecError or PolicyError (a file
    that cannot be used) if none."""
    if spec == "default":
        policy = load_policy()
        return ChosenPolicy(spec, policy, fingerprint(policy), "packaged default")
    if spec == "live":
        found = catalog()
        if found.live is None:
            raise SpecError(
                f"{flag} live: no live policy version has ever been published, so the "
                "workers run WG_POLICY_FILE or the packaged default: use "
                f"`{flag} default`, or `{flag} FILE` with the workers' WG_POLICY_FILE"
            )
        return _version(spec, found, found.live, "live version")
    if _VERSION_ID.match(spec):
        return _version(spec, catalog(), spec, "published version")
    policy = load_policy(Path(spec))
    return ChosenPolicy(spec, policy, fingerprint(policy), f"file {spec}")


def _version(spec: str, catalog: Catalog, version_id: str, what: str) -> ChosenPolicy:
    try:
        version = catalog.version(version_id)
    except KeyError as exc:
        raise SpecError(str(exc.args[0])) from None
    try:
        policy = version.policy()
    except PolicyError as exc:
        raise SpecError(f"{what} {version_id} cannot be used: {exc}") from None
    return ChosenPolicy(spec, policy, version_id, f"{what} {version_id}")


def catalog_reader(settings: Settings, warn: Callable[[str], None]) -> Callable[[], Catalog]:
    """Reads the deployment's `policies` topic; SpecError naming the topic and the broker
    if it cannot (no broker, no topic)."""

    def read() -> Catalog:
        from kafka.errors import KafkaError

        from withdrawguard.policy.log import PolicyLogError, read_catalog

        name = TopicNames(settings).name(POLICIES)
        try:
            return read_catalog(settings, warn)
        except (PolicyLogError, KafkaError) as exc:
            raise SpecError(
                f"the policy catalog (topic {name} at {settings.kafka_bootstrap}) "
                f"cannot be read: {exc}"
            ) from None

    return read
