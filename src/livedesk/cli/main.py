"""`livedesk <command>`: parse the command line and hand over to the service that owns it.

Each service's module is imported only when its command runs, so `livedesk gateway` does not
load the API's database stack.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="livedesk", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    standalone = commands.add_parser("standalone", help="the whole system in one process")
    _add_host_port(standalone, port=8000)
    standalone.add_argument(
        "--data-dir", help="where SQLite and keys live (default: LIVEDESK_DATA_DIR, else data)"
    )

    api = commands.add_parser("api", help="the REST API and outbox relay")
    _add_host_port(api, port=8000)
    api.add_argument(
        "--workers", type=int, default=1, help="processes sharing the port (SO_REUSEPORT)"
    )
    api.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)
    gateway = commands.add_parser("gateway", help="a WebSocket gateway node")
    _add_host_port(gateway, port=8200)
    gateway.add_argument("--node-id", help="this node's id (default: LIVEDESK_NODE_ID)")
    _add_host_port(commands.add_parser("presence", help="the presence service"), port=8100)

    dev = commands.add_parser(
        "dev", help="api, presence and two gateways behind one proxy, on this machine"
    )
    dev.add_argument("--port", type=int, default=8080, help="the proxy's; services take the next 4")
    dev.add_argument("--amqp-url", default="amqp://guest:guest@127.0.0.1:5672/livedesk-dev")
    dev.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/livedesk_dev")
    dev.add_argument("--data-dir", default="data/dev", help="signing keys and the demo login")
    dev.add_argument(
        "--management-url", help="RabbitMQ's management API (default: the broker's host, :15672)"
    )

    commands.add_parser("migrate", help="run database migrations to head")
    bootstrap = commands.add_parser("bootstrap", help="create an account and its first admin")
    bootstrap.add_argument("--account", required=True)
    bootstrap.add_argument("--email", required=True)
    bootstrap.add_argument("--password", required=True)

    broker = commands.add_parser(
        "broker-setup", help="create the vhost and each service's RabbitMQ user (idempotent)"
    )
    broker.add_argument(
        "--management-url",
        help="RabbitMQ's management API with an admin login, http://user:pass@host:15672, or"
        " the admin's amqp:// URL (default: LIVEDESK_BROKER_ADMIN_URL, else guest on loopback)",
    )
    broker.add_argument("--vhost", default="/", help="the vhost the services use (default: /)")
    broker.add_argument("--prefix", default="livedesk-", help="user names: PREFIX + service")
    broker.add_argument(
        "--password",
        action="append",
        default=[],
        metavar="SERVICE=SECRET",
        help="a service's password (else LIVEDESK_BROKER_<SERVICE>_PASSWORD; else kept, or"
        " generated and printed for a new user)",
    )
    keys = commands.add_parser("keys", help="rotate, retire or list the token signing keys")
    keys.add_argument("--key-dir", help="default: LIVEDESK_TOKENS__KEY_DIR, or <data dir>/keys")
    key_actions = keys.add_subparsers(dest="action", required=True, metavar="ACTION")
    key_actions.add_parser("rotate", help="add a new current signing key; the others stay")
    key_actions.add_parser("retire", help="remove a key that no longer signs").add_argument(
        "kid", help="the key's id (see `livedesk keys list`)"
    )
    key_actions.add_parser("list", help="the keys, oldest first, and which one signs")

    tail = commands.add_parser("tail", help="print an account's live events as JSON lines")
    tail.add_argument("--account", type=int, required=True, help="the token's account id")
    tail.add_argument("--token", required=True, help="an access token of that account")
    tail.add_argument(
        "--url",
        action="append",
        help="a gateway's WebSocket URL; repeat for failover (default: ws://127.0.0.1:8200/ws)",
    )
    tail.add_argument(
        "--from", dest="start", type=_offset, metavar="OFFSET", help="start after this offset"
    )
    simulate = commands.add_parser(
        "simulate", help="play customers and agents in the demo account of a running Livedesk"
    )
    simulate.add_argument(
        "--url",
        default="http://127.0.0.1:8000",
        help="the Livedesk to play in (default: standalone's; `livedesk dev` is on :8080)",
    )
    simulate.add_argument(
        "--password",
        default=os.environ.get("LIVEDESK_DEMO_PASSWORD"),
        help="the demo logins' password (default: LIVEDESK_DEMO_PASSWORD)",
    )
    simulate.add_argument(
        "--rate", type=float, default=20.0, help="actions per minute, on average (default: 20)"
    )
    simulate.add_argument(
        "--duration", type=float, help="stop after this many seconds (default: at Ctrl-C)"
    )
    simulate.add_argument("--seed", type=int, help="repeat the same choices (default: random)")
    asyncapi = commands.add_parser(
        "asyncapi", help="print the AsyncAPI document of /ws and the broker messages"
    )
    asyncapi.add_argument("--output", metavar="PATH", help="write it here instead of stdout")
    return parser


def _add_host_port(parser: argparse.ArgumentParser, *, port: int) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=port)


def _offset(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not an offset (a non-negative integer)")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "gateway":
        from livedesk.gateway.main import run as run_gateway

        return run_gateway(args.host, args.port, args.node_id)
    if args.command == "presence":
        from livedesk.presence.main import main as presence_main

        return presence_main(args.host, args.port)
    if args.command == "keys":
        from livedesk.cli.keys import run as run_keys

        return run_keys(args.action, args.key_dir, getattr(args, "kid", None))
    if args.command == "tail":
        from livedesk.cli.tail import run as run_tail

        return run_tail(args.account, args.token, args.url, args.start)
    if args.command == "simulate":
        from livedesk.cli.simulate import run as run_simulate

        return run_simulate(args.url, args.password, args.rate, args.duration, args.seed)
    if args.command == "asyncapi":
        from livedesk.cli.asyncapi import run as run_asyncapi

        return run_asyncapi(args.output)
    if args.command == "dev":
        from livedesk.devstack.main import run as run_dev

        return run_dev(
            args.port, args.amqp_url, args.database_url, args.data_dir, args.management_url
        )
    if args.command == "broker-setup":
        from livedesk.cli.broker_setup import run as run_broker_setup

        return run_broker_setup(args.management_url, args.vhost, args.prefix, args.password)
    if args.command in ("api", "migrate", "bootstrap"):
        from livedesk.api.main import run

        return run(args)
    from livedesk.standalone.main import run as run_standalone

    return run_standalone(args.host, args.port, args.data_dir)


if __name__ == "__main__":
    sys.exit(main())
