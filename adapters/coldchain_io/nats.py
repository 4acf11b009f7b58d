"""NATS with JetStream: the cluster option of ingest and alerts (docs/scaling.md).

Gateways keep speaking MQTT (3.1.1: NATS's MQTT listener refuses MQTT 5); NATS
turns a topic into a subject by its own rule (`/` becomes `.`), and the servers
map each gateway's telemetry and status onto one of `partitions` subjects
(`telemetry_mapping`, by site and gateway with nats-server's `partition`
function), which stream TELEMETRY keeps. So one gateway's messages always land in
one partition, in order, and an ingest worker owning that partition sees all of
them. Alert events go to stream ALERTS, each with its id as `Nats-Msg-Id`, so
JetStream drops a copy published again within its duplicate window. The registry's
fleet versions and the list of retired gateways go to stream FLEET, one message kept
per subject for good: what Mosquitto's retained messages are to ingest there.

A service's settings class inherits `NatsSettings` and sets its own prefix
(COLDCHAIN_INGEST_NATS_SERVERS, ...); `connect` connects to the first server of
the list that answers and fails over to the others; `ensure_streams` creates
the streams both services use and `ensure_buckets` ingest's key-value buckets;
both may run in every instance at every start.
"""

from __future__ import annotations

import logging
import ssl
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings

from coldchain import topics

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.js import JetStreamContext
    from nats.js.api import StreamConfig

# nats-py is imported where it is used: ingest and alerts on Mosquitto (the default)
# read this module's names and settings only, and nats-py costs them about 5 MB of RSS.

log = logging.getLogger(__name__)

#: Telemetry and gateway status, partitioned: `ingest.{partition}.{site}.{gateway}.{kind}`.
TELEMETRY_STREAM = "TELEMETRY"
TELEMETRY_PREFIX = "ingest"
#: Alert events, from `topics.alerts(site)` as NATS names it: `coldchain.v1._alerts.{site}`.
ALERTS_STREAM = "ALERTS"
ALERTS_SUBJECTS = "coldchain.v1._alerts.>"
#: The registry's fleet versions and the retired gateways, from `topics.FLEET_FILTER`:
#: `coldchain.v1._fleet.{version}` and `coldchain.v1._fleet.retired`, the last of each kept.
FLEET_STREAM = "FLEET"
FLEET_SUBJECTS = topics.FLEET_FILTER.replace("/", ".").replace("+", "*")
#: What user `ingest` of the servers' account may not publish: it reads stream FLEET
#: only; the alerts service alone writes it (deploy/nats/nats.conf).
INGEST_PUBLISH_DENY = [
    FLEET_SUBJECTS,
    f"$JS.API.STREAM.DELETE.{FLEET_STREAM}",
    f"$JS.API.STREAM.PURGE.{FLEET_STREAM}",
    f"$JS.API.STREAM.MSG.DELETE.{FLEET_STREAM}",
    f"$JS.API.STREAM.UPDATE.{FLEET_STREAM}",
    f"$JS.API.STREAM.PEER.REMOVE.{FLEET_STREAM}",
]
#: Which ingest worker owns which partition (one key per partition, with a TTL).
LEASES_BUCKET = "ingest_leases"
#: The ingest workers alive (one key per worker, with a TTL): the share of each.
WORKERS_BUCKET = "ingest_workers"
#: Each partition's rule state and the stream sequence it covers.
CHECKPOINTS_BUCKET = "ingest_checkpoints"

DEFAULT_PARTITIONS = 12


def gateway_user(site: str, gateway: str) -> str:
    """A gateway's user in the nodes' nats.conf, its MQTT username (deploy/nats/nats.conf)."""
    return f"gateway-{site}-{gateway}"


#: How long TELEMETRY keeps a message: as long as Mosquitto keeps ingest's session.
TELEMETRY_MAX_AGE_S = 7 * 24 * 3600
#: How long ALERTS keeps an event; the alerts service takes it within seconds.
ALERTS_MAX_AGE_S = 7 * 24 * 3600
#: How long JetStream remembers a message id to drop a copy of the message.
DUPLICATE_WINDOW_S = 600
#: Seconds a lease or a worker's presence lives without renewal.
DEFAULT_LEASE_TTL_S = 10.0


class NatsSettings(BaseSettings):
    """The cluster and how to log in to it; a subclass gives the environment prefix."""

    nats_servers: list[str] = Field(
        default=["nats://127.0.0.1:4222"],
        min_length=1,
        description="The cluster's servers as a JSON list; the client fails over between them.",
    )
    nats_user: str | None = None
    nats_password: SecretStr | None = None
    nats_credentials: Path | None = Field(
        default=None, description="A NATS credentials file (JWT and seed), instead of a password."
    )
    nats_ca_file: Path | None = Field(
        default=None, description="CA certificate to check the servers with (tls:// servers)."
    )
    nats_stream_replicas: int = Field(
        default=3,
        ge=1,
        le=5,
        description="Copies JetStream keeps of every stream and bucket (one per node; 3 "
        "survives the loss of one node).",
    )


def telemetry_mapping(partitions: int) -> dict[str, str]:
    """The subject mappings of the servers' account: gateway telemetry and status
    onto `ingest.{partition}.{site}.{gateway}.{kind}` (partition as `partition_of`)."""
    mapping = {}
    for kind in ("telemetry", "status"):
        source = _subject(topics.telemetry("*", "*")).replace("telemetry", kind)
        mapping[source] = (
            f"{TELEMETRY_PREFIX}.{{{{partition({partitions},1,2)}}}}."
            f"{{{{wildcard(1)}}}}.{{{{wildcard(2)}}}}.{kind}"
        )
    return mapping


def partition_of(site: str, gateway: str, partitions: int) -> int:
    """The partition nats-server's mapping puts a gateway's messages in: FNV-1a (32 bit)
    of site and gateway id, one after the other, modulo `partitions`."""
    hashed = 0x811C9DC5
    for byte in (site + gateway).encode():
        hashed = ((hashed ^ byte) * 0x01000193) & 0xFFFFFFFF
    return hashed % partitions


def partition_filter(partition: int) -> str:
    """The subjects of one partition in stream TELEMETRY."""
    return f"{TELEMETRY_PREFIX}.{partition}.>"


def topic_of(subject: str) -> str | None:
    """The MQTT topic a partitioned subject was published on, or None if it is not one."""
    parts = subject.split(".")
    if len(parts) != 5 or parts[0] != TELEMETRY_PREFIX:
        return None
    _, _, site, gateway, kind = parts
    return f"{topics.PREFIX}/{site}/{gateway}/{kind}"


def topic_of_fleet(subject: str) -> str | None:
    """The MQTT topic of a subject of stream FLEET: a fleet version's or the retired
    gateways'; None for any other."""
    topic = subject.replace(".", "/")
    return topic if topics.is_fleet(topic) or topic == topics.RETIRED else None


def subject_of(topic: str) -> str:
    """The NATS subject an MQTT topic becomes (and MQTT subscribers of it see)."""
    return _subject(topic)


def _subject(topic: str) -> str:
    return topic.replace("/", ".")


#: How long a connection's drain waits for its subscriptions at a stop.
DRAIN_TIMEOUT_S = 3.0


async def connect(settings: NatsSettings, name: str) -> Client:
    """A connection to the first of `settings.nats_servers` that answers; it reconnects to
    any of them, without end, when the one it is on goes away."""
    options: dict[str, object] = {
        "servers": settings.nats_servers,
        "name": name,
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 0.5,
        "connect_timeout": 2,
        "allow_reconnect": True,
        # At a stop, what the subscriptions still hold is waited for this long, not 30 s:
        # compose waits 10 s after SIGTERM before SIGKILL.
        "drain_timeout": DRAIN_TIMEOUT_S,
    }
    if settings.nats_user:
        options["user"] = settings.nats_user
        password = settings.nats_password
        options["password"] = password.get_secret_value() if password else None
    if settings.nats_credentials:
        options["user_credentials"] = str(settings.nats_credentials)
    if settings.nats_ca_file:
        options["tls"] = ssl.create_default_context(cafile=str(settings.nats_ca_file))
    import nats

    return await nats.connect(**options)  # type: ignore[arg-type]


async def ensure_streams(
    js: JetStreamContext, settings: NatsSettings, *, writes_fleet: bool = False
) -> None:
    """Create streams TELEMETRY, ALERTS and FLEET, or bring an existing one's configuration up to
    date; safe in every instance of ingest and alerts at every start. FLEET's only with
    `writes_fleet` (the alerts service): otherwise it is only made when missing, as user
    ingest may not change it."""
    from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig

    replicas = settings.nats_stream_replicas
    await _stream(
        js,
        StreamConfig(
            name=TELEMETRY_STREAM,
            subjects=[f"{TELEMETRY_PREFIX}.>"],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            num_replicas=replicas,
            max_age=TELEMETRY_MAX_AGE_S,
            duplicate_window=DUPLICATE_WINDOW_S,
        ),
    )
    await _stream(
        js,
        StreamConfig(
            name=ALERTS_STREAM,
            subjects=[ALERTS_SUBJECTS],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            num_replicas=replicas,
            max_age=ALERTS_MAX_AGE_S,
            duplicate_window=DUPLICATE_WINDOW_S,
            discard=DiscardPolicy.OLD,
        ),
    )
    await _stream(
        js,
        StreamConfig(
            name=FLEET_STREAM,
            subjects=[FLEET_SUBJECTS],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            num_replicas=replicas,
            max_msgs_per_subject=1,
            duplicate_window=DUPLICATE_WINDOW_S,
        ),
        update=writes_fleet,
    )


async def ensure_buckets(js: JetStreamContext, settings: NatsSettings, lease_ttl_s: float) -> None:
    """Create the ingest workers' key-value buckets: leases and presence living
    `lease_ttl_s` without renewal, checkpoints for good. Ingest's alone: a bucket keeps
    the TTL it was made with, and the workers renew by theirs."""
    for bucket, ttl in (
        (LEASES_BUCKET, lease_ttl_s),
        (WORKERS_BUCKET, lease_ttl_s),
        (CHECKPOINTS_BUCKET, None),
    ):
        await _bucket(js, bucket, settings.nats_stream_replicas, ttl)


async def _stream(js: JetStreamContext, config: StreamConfig, *, update: bool = True) -> None:
    from nats.js.errors import BadRequestError, NotFoundError

    try:
        await js.stream_info(config.name or "")
    except NotFoundError:
        try:
            await js.add_stream(config)
            log.info("created stream %s (%s replicas)", config.name, config.num_replicas)
            return
        except BadRequestError as exc:  # another instance made it meanwhile
            log.info("stream %s: %s", config.name, exc)
    if update:
        await js.update_stream(config)


async def _bucket(js: JetStreamContext, bucket: str, replicas: int, ttl_s: float | None) -> None:
    from nats.js.api import KeyValueConfig, StorageType
    from nats.js.errors import BucketNotFoundError

    try:
        await js.key_value(bucket)
        return
    except BucketNotFoundError:
        pass
    await js.create_key_value(
        KeyValueConfig(
            bucket=bucket,
            history=1,
            ttl=ttl_s,
            storage=StorageType.FILE,
            replicas=replicas,
        )
    )
    log.info("created key-value bucket %s (%s replicas)", bucket, replicas)
