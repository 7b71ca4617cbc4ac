"""Settings for every service: one class, built once in `main` and passed down.

Read from the environment with the `LIVEDESK_` prefix; nested groups use `__`
(`LIVEDESK_BUS__PREFETCH=512`). Defaults work on one machine with RabbitMQ and PostgreSQL on
loopback. No module builds a `Settings()` at import time: tests pass their own.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class BusSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    # A prefetch in the hundreds keeps the consumer's socket busy while it works through a
    # batch; a prefetch of 1 costs a broker round trip per message.
    prefetch: int = Field(default=256, ge=1, le=65_535)
    # How long a publish keeps retrying through a broker outage before it gives up.
    publish_timeout_s: float = Field(default=30.0, gt=0)
    # Seconds between reconnect attempts of the robust connection.
    reconnect_interval_s: float = Field(default=1.0, gt=0)
    # How long the first connection keeps trying before the service gives up on starting.
    connect_timeout_s: float = Field(default=30.0, gt=0)
    # The hand-written RabbitMQ path (frames past aiormq; docs/adr/0001-fast-publish-path.md).
    # False runs on aio-pika's plain path, as the bus does by itself when the aiormq, pamqp
    # or aio-pika installed is not one the fast path was checked against.
    fast_path: bool = True


class TokenSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    # Ed25519 keys in PEM files. The API signs with the private key; gateways and presence
    # verify with the public key only. With no files given, the API makes a key pair under
    # the data dir on first start (development and standalone only).
    private_key_path: Path | None = None
    public_key_path: Path | None = None
    issuer: str = "livedesk"
    access_ttl_s: int = Field(default=3600, gt=0)


class ApiSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    # Replay answers `resync_required` past either bound; zero turns a bound off.
    event_retention_days: int = Field(default=7, ge=0)
    event_retention_count: int = Field(default=0, ge=0)
    # The relay is woken on commit; the sweep only catches what a crash or an outage left.
    relay_sweep_interval_s: float = Field(default=1.0, gt=0)
    # One relay round publishes at most this many events. Bigger rounds amortize the
    # database round trips; smaller ones hold the accounts' relay locks for less time.
    relay_batch_size: int = Field(default=500, ge=1)
    # A round that the broker has not confirmed by then is abandoned and retried, so an
    # outage never holds the relay's locks (and a transaction) for the bus's own timeout.
    relay_publish_timeout_s: float = Field(default=5.0, gt=0)
    retention_interval_s: float = Field(default=60.0, gt=0)
    # Presence learns availability from a snapshot this often (and from each change at once).
    availability_snapshot_interval_s: float = Field(default=5.0, gt=0)
    # argon2id cost. The defaults are RFC 9106's second recommendation (64 MiB, 3 passes);
    # tests and benchmarks lower them, production should not.
    password_time_cost: int = Field(default=3, ge=1)
    password_memory_kib: int = Field(default=64 * 1024, ge=8)
    # Request bodies above this are refused with 413 before they are read whole.
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    db_pool_size: int = Field(default=20, ge=1)
    # How long api, migrate and bootstrap wait for the database to answer before giving up
    # on starting (it may start after them; a process manager restarts them after that).
    db_connect_timeout_s: float = Field(default=30.0, gt=0)
    # On SIGTERM, requests in flight get this long to finish before their connections are
    # closed: a client that never sends its body must not hold a rollout.
    drain_timeout_s: int = Field(default=10, ge=1)
    # POST /v1/conversations/{id}/messages answered by an ASGI layer before FastAPI
    # (docs/adr/0003-fast-message-route.md). False answers it with the FastAPI route, as the
    # API does by itself when the FastAPI installed is not one the layer was checked against.
    fast_message_route: bool = True


class GatewaySettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    auth_timeout_s: float = Field(default=10.0, gt=0)
    # A socket's send queue: past any of these bounds it is closed with 4409 and resumes
    # elsewhere. Frames and bytes bound memory; the lag (how long its oldest unsent frame
    # has waited, seconds) bounds time: at a low event rate a stalled reader reaches the
    # frame bound only after minutes, and a client seconds behind is better served by
    # resuming. The lag must still let a slow link take a resume (resume_buffer_bytes, or
    # replay pages) in one go: 5 s is ~50 KB/s for 256 KB.
    send_queue_frames: int = Field(default=1000, ge=1)
    send_queue_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    send_queue_max_lag_s: float = Field(default=5.0, gt=0)
    # The kernel's send buffer of each socket, in bytes. Left to autotuning it grows to 4 MB
    # on loopback (tcp_wmem), where the send queue's bounds cannot see it, and a stalled
    # reader takes minutes to be closed with 4409. Fixed, the bounds apply after this much.
    # 0 keeps the kernel's autotuning.
    socket_send_buffer_bytes: int = Field(default=64 * 1024, ge=0)
    # Of that buffer, the bytes the kernel may hold not yet sent (TCP_NOTSENT_LOWAT); past it
    # writes stay in the node's own buffer, where the send queue's lag bound sees them. A
    # stalled reader's window is shut, so everything the kernel holds for it is unsent and
    # hidden from the bound: the whole send buffer is seconds of a stream. Data in flight to
    # a reader that keeps up is not counted, so this costs a long fat link no throughput, as
    # a smaller buffer would. 0 leaves the kernel's default (no limit).
    socket_unsent_bytes: int = Field(default=16 * 1024, ge=0)
    max_frame_bytes: int = Field(default=64 * 1024, ge=256)
    max_subscriptions: int = Field(default=200, ge=1)
    heartbeat_interval_s: float = Field(default=5.0, gt=0)
    # Frames a client may send: a UI sends a handful a second; a burst covers a reconnect
    # that re-subscribes to its open conversations at once.
    frames_per_s: float = Field(default=20.0, gt=0)
    frames_burst: float = Field(default=100.0, ge=1)
    # Typing is sent on keystrokes by careless clients; presence needs one every few seconds.
    typing_per_s: float = Field(default=2.0, gt=0)
    typing_burst: float = Field(default=5.0, ge=1)
    # Bad frames answered with an error before the socket is closed with 4429.
    bad_frames_per_s: float = Field(default=0.5, gt=0)
    bad_frames_burst: float = Field(default=10.0, ge=1)
    # An offset that arrives ahead of the next expected one is held this long before the
    # gap is filled from the replay endpoint: the broker rarely reorders, a retry may lag.
    gap_wait_s: float = Field(default=0.3, gt=0)
    # What an account may hold behind a gap while it is filled, and for how long: past any
    # of these the gap is given up, the account's sockets get resync_required (they reload
    # over REST) and what was held follows. A fill takes gap_wait_s and one replay request:
    # these bound only a gap the API cannot fill (it is down), which otherwise stalled the
    # account's sockets without a word while what was held grew.
    gap_hold_events: int = Field(default=2000, ge=1)
    gap_hold_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    gap_hold_max_s: float = Field(default=30.0, gt=0)
    replay_page_size: int = Field(default=500, ge=1, le=1000)
    # The last socket of an account leaving unbinds only after this many seconds, so that a
    # page reload or a reconnect storm (sockets leaving and coming back over seconds) does
    # not churn bindings; a binding that lingers costs only that account's traffic to this
    # node.
    unbind_grace_s: float = Field(default=20.0, ge=0)
    # Per account, the last persistent events delivered, kept to serve resumes from memory
    # rather than from the API's replay endpoint; bounded in count and in payload bytes (the
    # frames are those sent live, kept a little longer; a node's worst case is its bound
    # accounts times the byte bound).
    resume_buffer_events: int = Field(default=1000, ge=0)
    resume_buffer_bytes: int = Field(default=256 * 1024, ge=0)
    # Every account's resume buffer together, in payload bytes: past it the buffers of the
    # accounts least recently sent an event or resumed from are emptied (their resumes read
    # the replay endpoint). Without it memory would grow with the bound accounts, up to
    # 256 KiB each; 64 MiB holds 256 accounts at that bound and far more of the usual,
    # smaller ones.
    resume_buffers_node_bytes: int = Field(default=64 * 1024 * 1024, ge=0)
    # An account's presence_state fetched for one socket is reused for its other sockets this
    # long, unless an agent_status of the account came meanwhile or it was unbound: that is
    # what keeps a reused state fresh; this bound (seconds) only limits how stale one could be
    # after an agent_status lost without a broker reconnect. It outlasts a reconnect storm,
    # whose sockets of one account arrive over tens of seconds and would otherwise each
    # cost a presence request. 0: one fetch per socket.
    presence_state_ttl_s: float = Field(default=60.0, ge=0)
    # WebSocket pings find dead peers: a socket silent past interval + timeout is closed
    # with 1011. The node's sweeper sends them (it runs twice a second, which is the
    # precision of both), not a task per socket: idle sockets must stay small.
    ping_interval_s: float = Field(default=20.0, gt=0)
    ping_timeout_s: float = Field(default=20.0, gt=0)
    # On SIGTERM, sockets get `reconnect` and 1001 spread over this window, so the other
    # nodes see a ramp rather than a storm.
    drain_window_s: float = Field(default=5.0, ge=0)
    # Sockets this node takes, in all (authenticated or not), per account and per user
    # (counted on this node). Past the node's cap a new socket is closed with 1013 (another
    # node or a later try serves it), past an account's or a user's with 4429 (that client
    # must open fewer). The node's bounds its memory (~20 KB an idle socket: 50,000 is
    # ~1 GB); an account's keeps one tenant from filling the node; a user's stops a client
    # that reconnects without closing. /readyz answers 503 from this fraction of the node's
    # cap on, so that a load balancer sends new sockets elsewhere before any is refused.
    max_sockets_per_node: int = Field(default=50_000, ge=1)
    max_sockets_per_account: int = Field(default=10_000, ge=1)
    max_sockets_per_user: int = Field(default=100, ge=1)
    unready_at_socket_fraction: float = Field(default=0.9, gt=0, le=1)
    http_timeout_s: float = Field(default=5.0, gt=0)
    # Sockets written with hand-built frames (the gateway's ws_fast.py) rather than through
    # the websockets library's public API alone; taken only when the import-time check of
    # the library's internals it relies on passed (docs/adr/0002-gateway-frame-writes.md).
    fast_writes: bool = True


class PresenceSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    typing_ttl_s: float = Field(default=6.0, gt=0)
    offline_grace_s: float = Field(default=10.0, ge=0)
    # A node silent for this many of its own heartbeat intervals is dead.
    missed_heartbeats: int = Field(default=3, ge=1)
    # A replica that has just become the active consumer (start, takeover, reconnect) waits
    # this many heartbeat intervals before concluding that anyone left: until every live node
    # has sent a snapshot, "not heard yet" must not read as "offline". 1.5 rather than 1
    # leaves room for a heartbeat that was in flight or late.
    warmup_heartbeats: float = Field(default=1.5, ge=1.0)
    # How often expiry (typing TTL, grace, node death) is checked at most; the ticker also
    # wakes for the next deadline, so this bounds the lateness of deadlines added meanwhile.
    tick_interval_s: float = Field(default=0.25, gt=0)
    # Without a public key file, presence fetches {api_url}/.well-known/jwks.json at start-up
    # and keeps trying this long (the API may start after it) before giving up loudly.
    jwks_timeout_s: float = Field(default=120.0, gt=0)

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
    bus: BusSettings = BusSettings()
    tokens: TokenSettings = TokenSettings()
    api: ApiSettings = ApiSettings()
    gateway: GatewaySettings = GatewaySettings()
    presence: PresenceSettings = PresenceSettings()
