/**
 * Against a real standalone server that stops answering (SIGSTOP): the client notices by its
 * heartbeat's deadline, or at once when the host says it woke up, and resumes after SIGCONT.
 */

import assert from "node:assert/strict";
import { test } from "node:test";

import type { ClientOptions, LivedeskClient } from "../src/client.js";
import { nextEvent } from "./support/events.js";
import { LiveServer } from "./support/live.js";
import { ManualSignals } from "./support/signals.js";

const live = new LiveServer();

function client(options: Partial<ClientOptions>): LivedeskClient {
  return live.client({ random: () => 0.5, backoff: { baseMs: 40, maxMs: 160 }, connectTimeoutMs: 1_000, ...options });
}

test("a server that stops answering is found dead by the ping's deadline, and the client resumes once it answers", async () => {
  const alice = client({ heartbeat: { intervalMs: 200, timeoutMs: 300 }, signals: new ManualSignals() });
  await alice.opened();
  const dead = nextEvent(alice, "state", (event) => event.state === "reconnecting");
  live.server.freeze();
  try {
    assert.equal((await dead).reason, "no answer to a ping");
  } finally {
    live.server.thaw();
  }
  await alice.opened();
});

test("on wake-up (the page visible again) the socket is checked at once, not at the next heartbeat", async () => {
  const signals = new ManualSignals();
  const alice = client({ heartbeat: { intervalMs: 600_000, timeoutMs: 300 }, signals });
  await alice.opened();
  const dead = nextEvent(alice, "state", (event) => event.state === "reconnecting", 2_000);
  live.server.freeze();
  try {
    signals.fire("visible");
    assert.equal((await dead).reason, "no answer to a ping");
  } finally {
    live.server.thaw();
  }
  await alice.opened();
});

test("while the host is offline it waits; when it is back online it connects at once", async () => {
  const signals = new ManualSignals();
  signals.fire("offline");
  const alice = client({ backoff: { baseMs: 600_000, maxMs: 600_000 }, signals });
  assert.equal(alice.state, "offline");
  const opened = alice.opened();
  signals.fire("online");
  await opened;
});
