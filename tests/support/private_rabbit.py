"""A RabbitMQ node of the test run's own, to stop, start and cut off at will.

Fault tests stop the broker and drop its connections. Doing that to the machine's shared
broker would break whatever else is using it at the time (other test runs, other services),
so each test session that needs it starts a private node on free loopback ports, from the
same RabbitMQ installation, and removes it at the end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.support.ports import free_port

# RabbitMQ's default vm_memory_high_watermark: a fraction of the machine's memory.
DEFAULT_MEMORY_WATERMARK = 0.4


class PrivateRabbit:
    """A private node; with `management`, its management API too (at `management_url`), for
    the tests of what needs it, since the machine's broker may run without the plugin."""

    def __init__(self, *, management: bool = False) -> None:
        kind = "-management" if management else ""
        self.node = f"livedesk-test-{os.getpid()}{kind}@localhost"
        self.port = free_port()
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}/"
        self.management_port = free_port() if management else None
        self._home = Path(tempfile.mkdtemp(prefix="livedesk-rabbit-"))

    @property
    def management_url(self) -> str:
        assert self.management_port is not None, "a node started without management"
        return f"http://127.0.0.1:{self.management_port}"

    @staticmethod
    def available() -> bool:
        return shutil.which("rabbitmq-server") is not None

    def start(self) -> None:
        config = self._home / "rabbitmq.conf"
        config.write_text(
            f"listeners.tcp.local = 127.0.0.1:{self.port}\n"
            # Loopback tests: the guest user may connect, and a short heartbeat notices
            # dead peers quickly.
            "loopback_users = none\nheartbeat = 10\n"
        )
        plugins = "[]"
        if self.management_port is not None:
            plugins = "[rabbitmq_management]"
            with config.open("a") as appended:
                appended.write(
                    f"management.tcp.ip = 127.0.0.1\nmanagement.tcp.port = {self.management_port}\n"
                )
        (self._home / "plugins").write_text(f"{plugins}.\n")
        env = {
            **os.environ,
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_MNESIA_BASE": str(self._home / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self._home / "log"),
            "RABBITMQ_PID_FILE": str(self._home / "pid"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self._home / "plugins"),
            "RABBITMQ_CONFIG_FILE": str(config),
        }
        # The server script runs as the rabbitmq user when started by root.
        subprocess.run(["chown", "-R", "rabbitmq:rabbitmq", str(self._home)], check=False)
        subprocess.run(["rabbitmq-server", "-detached"], env=env, check=True)
        try:
            # `wait` follows the pid file until the node has booted; `await_startup` alone
            # fails at once while the node is not yet reachable.
            self.ctl("wait", str(self._home / "pid"), "--timeout", "90")
        except BaseException:
            self.stop()  # a node that failed to boot must not outlive the test run
            raise

    def ctl(self, *args: str) -> None:
        subprocess.run(
            ["rabbitmqctl", "-n", self.node, *args],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def close_all_connections(self) -> None:
        self.ctl("close_all_connections", "test: broker drops every connection")

    def raise_memory_alarm(self) -> None:
        """A watermark no node can be under: RabbitMQ raises its memory alarm at once and
        blocks every connection that publishes until it clears."""
        self.ctl("set_vm_memory_high_watermark", "0.0000001")

    def clear_memory_alarm(self) -> None:
        self.ctl("set_vm_memory_high_watermark", str(DEFAULT_MEMORY_WATERMARK))

    def stop_app(self) -> None:
        self.ctl("stop_app")

    def start_app(self) -> None:
        self.ctl("start_app")
        self.ctl("await_startup", "--timeout", "90")

    def stop(self) -> None:
        try:
            subprocess.run(
                ["rabbitmqctl", "-n", self.node, "stop"], capture_output=True, timeout=120
            )
        finally:
            shutil.rmtree(self._home, ignore_errors=True)
