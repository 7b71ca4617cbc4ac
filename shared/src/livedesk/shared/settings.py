"""Settings for every service: one class, built once in `main` and passed down.

Read from the environment with the `LIVEDESK_` prefix; nested groups use `__`
(`LIVEDESK_BUS__PREFETCH=512`). Defaults work on one machine with RabbitMQ and PostgreSQL on
loopback. No module builds a `Settings()` at import time: tests pass their own. Why each
bound is what it is: docs/settings.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from livedesk.shared.origins import parse_origins

# Comma-separated in the environment; normalized (`origins.normalize_origin`) when read.
Origins = Annotated[tuple[str, ...], NoDecode, BeforeValidator(parse_origins)]


class BusSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    prefetch: int = Field(default=256, ge=1, le=65_535)  # 1 costs a round trip per message
    publish_timeout_s: float = Field(default=30.0, gt=0)  # a publish's retries in an outage
    reconnect_interval_s: float = Field(default=1.0, gt=0)
    connect_timeout_s: float = Field(default=30.0, gt=0)  # then a service gives up starting
    fast_path: bool = True  # docs/adr/0001-fast-publish-path.md; false: aio-pika's own path
    # Gateways drop events not published by this broker user; None: the user of amqp_url.
    events_publisher_user: str | None = None


class TokenSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    # The API's signing keys, by kid (docs/security.md); made there if empty (development).
    key_dir: Path | None = None  # default: <data_dir>/keys
    private_key_path: Path | None = None  # one Ed25519 PEM instead of key_dir: no rotation
    key_check_interval_s: float = Field(default=5.0, gt=0)  # the API re-reads key_dir
    # Verifiers: a PEM or JWKS file, else jwks_url (default: the API's own JWKS).
    public_key_path: Path | None = None
    jwks_url: str | None = None
    jwks_refresh_s: float = Field(default=300.0, gt=0)  # a retired key's reach on verifiers
    jwks_min_interval_s: float = Field(default=5.0, ge=0)  # floor; an unknown kid refetches
    issuer: str = "livedesk"
    access_ttl_s: int = Field(default=900, gt=0)  # short: revocation is checked, not signed
    refresh_ttl_s: int = Field(default=30 * 86_400, gt=0)  # a session's life from its login

    def key_directory(self, data_dir: Path) -> Path:
        return self.key_dir if self.key_dir is not None else data_dir / "keys"


class ApiSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    # Replay answers `resync_required` past either bound; zero turns a bound off.
    event_retention_days: int = Field(default=7, ge=0)
    event_retention_count: int = Field(default=0, ge=0)
    relay_sweep_interval_s: float = Field(default=1.0, gt=0)  # the relay is woken on commit
    relay_batch_size: int = Field(default=500, ge=1)  # events per relay round
    relay_publish_timeout_s: float = Field(default=5.0, gt=0)  # then a round is retried
    retention_interval_s: float = Field(default=60.0, gt=0)
    availability_snapshot_interval_s: float = Field(default=5.0, gt=0)
    # argon2id cost: RFC 9106's second recommendation; only tests and benchmarks lower it.
    password_time_cost: int = Field(default=3, ge=1)
    password_memory_kib: int = Field(default=64 * 1024, ge=8)
    password_hash_concurrency: int | None = Field(default=None, ge=1)  # None: CPUs - 1, min 1
    password_hash_queue: int = Field(default=16, ge=0)  # hashes waiting; past it 503
    # Failed logins allowed per e-mail and per client address, in `limits` notation: each
    # tier a longer window, so the wait grows as failures go on. Past any tier 429.
    login_failures_per_email: str = "5/minute;10/15 minutes;20/hour;50/day"
    login_failures_per_address: str = "20/minute;100/hour;500/day"
    # Peers (IPs or CIDRs) whose X-Forwarded-For names the client; others are the client.
    trusted_proxies: tuple[str, ...] = ()
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)  # larger bodies get 413
    db_pool_size: int = Field(default=20, ge=1)
    db_connect_timeout_s: float = Field(default=30.0, gt=0)  # then api/migrate exit 69
    drain_timeout_s: int = Field(default=10, ge=1)  # for requests in flight on SIGTERM
    fast_message_route: bool = True  # docs/adr/0003-fast-message-route.md
    # How long an API process trusts what it read of a session (revoked or not) for REST.
    session_check_s: float = Field(default=0.5, ge=0)
    docs: bool = True  # /docs, /redoc, /openapi.json; false (production): 404
    # The inbox page shows its demo panel (simulated customers); standalone and `livedesk dev`.
    demo: bool = False


class GatewaySettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    auth_timeout_s: float = Field(default=10.0, gt=0)  # then 4408
    # A socket past any of these is closed with 4409 and resumes elsewhere.
    send_queue_frames: int = Field(default=1000, ge=1)
    send_queue_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    send_queue_max_lag_s: float = Field(default=5.0, gt=0)
    # What the kernel may hide from those bounds (0: the kernel's own choice).
    socket_send_buffer_bytes: int = Field(default=64 * 1024, ge=0)
    socket_unsent_bytes: int = Field(default=16 * 1024, ge=0)  # TCP_NOTSENT_LOWAT
    max_frame_bytes: int = Field(default=64 * 1024, ge=256)
    max_subscriptions: int = Field(default=200, ge=1)
    heartbeat_interval_s: float = Field(default=5.0, gt=0)  # snapshots to presence
    # Token buckets per socket: all frames, typing frames, bad frames (then 4429).
    frames_per_s: float = Field(default=20.0, gt=0)
    frames_burst: float = Field(default=100.0, ge=1)
    typing_per_s: float = Field(default=2.0, gt=0)
    typing_burst: float = Field(default=5.0, ge=1)
    bad_frames_per_s: float = Field(default=0.5, gt=0)
    bad_frames_burst: float = Field(default=10.0, ge=1)
    gap_wait_s: float = Field(default=0.3, gt=0)  # before a gap is filled from replay
    # What an account holds behind a gap the API cannot fill, then `resync_required`.
    gap_hold_events: int = Field(default=2000, ge=1)
    gap_hold_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    gap_hold_max_s: float = Field(default=30.0, gt=0)
    replay_page_size: int = Field(default=500, ge=1, le=1000)
    unbind_grace_s: float = Field(default=20.0, ge=0)  # a reload does not churn bindings
    # Resumes served from memory: per account, and all accounts together.
    resume_buffer_events: int = Field(default=1000, ge=0)
    resume_buffer_bytes: int = Field(default=256 * 1024, ge=0)
    resume_buffers_node_bytes: int = Field(default=64 * 1024 * 1024, ge=0)
    presence_state_ttl_s: float = Field(default=60.0, ge=0)  # reuse per account; 0: never
    ping_interval_s: float = Field(default=20.0, gt=0)  # silent past both: 1011
    ping_timeout_s: float = Field(default=20.0, gt=0)
    drain_window_s: float = Field(default=5.0, ge=0)  # `reconnect` spread over it on SIGTERM
    # Past the node's cap 1013; past an account's or a user's 4429.
    max_sockets_per_node: int = Field(default=50_000, ge=1)
    max_sockets_per_account: int = Field(default=10_000, ge=1)
    max_sockets_per_user: int = Field(default=100, ge=1)
    unready_at_socket_fraction: float = Field(default=0.9, gt=0, le=1)  # of the node's cap
    http_timeout_s: float = Field(default=5.0, gt=0)
    fast_writes: bool = True  # docs/adr/0002-gateway-frame-writes.md


class PresenceSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    typing_ttl_s: float = Field(default=6.0, gt=0)  # gateways read it too (`ready`)
    offline_grace_s: float = Field(default=10.0, ge=0)  # a reload is not a departure
    missed_heartbeats: int = Field(default=3, ge=1)  # then a node is dead
    warmup_heartbeats: float = Field(default=1.5, ge=1.0)  # before "not heard" is "offline"
    tick_interval_s: float = Field(default=0.25, gt=0)  # the most an expiry check waits
    jwks_timeout_s: float = Field(default=120.0, gt=0)  # then presence exits 69

    @property
    def typing_interval_s(self) -> float:
        """How often a client repeats `typing` start while the user types (sent in `ready`):
        half the TTL, so that one lost start does not end the indicator."""
        return self.typing_ttl_s / 2


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LIVEDESK_", env_nested_delimiter="__", frozen=True, extra="ignore"
    )

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/livedesk"
    # The path names the vhost: one per stack, since exchange and queue names are fixed.
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    api_url: str = "http://127.0.0.1:8000"
    presence_url: str = "http://127.0.0.1:8100"
    node_id: str = Field(default="gw-local", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    data_dir: Path = Path("data")
    log_level: str = "INFO"
    allowed_origins: Origins = ()  # beside same origin: sockets and CORS (docs/security.md)
    metrics_token: SecretStr | None = None  # unset: /metrics for loopback clients only
    demo_password: SecretStr | None = None  # standalone's demo logins; unset: a random one
    # Where login throttling counts failures, shared by replicas; None: each process's memory.
    redis_url: str | None = None
    bus: BusSettings = BusSettings()
    tokens: TokenSettings = TokenSettings()
    api: ApiSettings = ApiSettings()
    gateway: GatewaySettings = GatewaySettings()
    presence: PresenceSettings = PresenceSettings()

    @field_validator("database_url")
    @classmethod
    def _asyncpg_for_plain_postgresql(cls, url: str) -> str:
        """A plain `postgresql://` URL (what CloudNativePG and most providers hand out) means
        the asyncpg driver, the only PostgreSQL driver the services have."""
        scheme, separator, rest = url.partition("://")
        if separator and scheme in {"postgres", "postgresql"}:
            return f"postgresql+asyncpg://{rest}"
        return url
