/**
 * Against a real standalone server: resume after a restart with no gap and no duplicate,
 * subscriptions sent again, the drain hint followed, and back-off timing.
 */

import assert from "node:assert/strict";
import { test } from "node:test";

import { connect, type LivedeskClient } from "../src/client.js";
import type { PersistentEvent, StateEvent } from "../src/index.js";
import { nextEvent, record } from "./support/events.js";
import { LiveServer } from "./support/live.js";
import { ManualSignals } from "./support/signals.js";
import { ADMIN, api, login } from "./support/standalone.js";

const DEMO_CONVERSATION = 1;
const live = new LiveServer();
let adminToken: string | undefined;

function client(signals = new ManualSignals(), extra: Partial<Parameters<typeof connect>[0]> = {}): LivedeskClient {
  return live.client({ signals, random: () => 0.5, backoff: { baseMs: 40, maxMs: 160 }, drainJitterMs: 100, ...extra });
}

async function post(content: string): Promise<void> {
  adminToken ??= await login(live.server.url, ADMIN);
  await api(live.server.url, adminToken, "POST", `/v1/conversations/${DEMO_CONVERSATION}/messages:import`, { content, kind: "incoming" });
}

function persistent(events: readonly { type: string }[]): PersistentEvent[] {
  return events.filter((event): event is PersistentEvent => "offset" in event && typeof event.offset === "number" && event.type !== "ready" && event.type !== "pong" && event.type !== "resync_required");
}

test("resumes after a restart from the last offset it delivered, with no gap and no duplicate, and subscribes again", async () => {
  const signals = new ManualSignals();
  const alice = client(signals);
  const events = record(alice);
  await alice.opened();
  alice.subscribe(DEMO_CONVERSATION);
  await nextEvent(alice, "subscribed");
  await post("before the restart");
  await nextEvent(alice, "new_message", (event) => event.data.content === "before the restart");

  signals.fire("offline"); // so that it waits for "online" instead of finding the server up
  const offline = nextEvent(alice, "state", (event) => event.state === "offline");
  await live.server.stop();
  await offline;
  await live.server.startAgain();
  await post("while it was away 1");
  await post("while it was away 2");
  const resubscribed = nextEvent(alice, "subscribed");
  signals.fire("online");
  await nextEvent(alice, "new_message", (event) => event.data.content === "while it was away 2");
  assert.equal((await resubscribed).conversation_id, DEMO_CONVERSATION);

  const delivered = persistent(events);
  const offsets = delivered.map((event) => event.offset);
  assert.deepEqual(offsets, offsets.map((_, index) => offsets[0]! + index), "consecutive offsets, each once");
  const contents = delivered.flatMap((event) => (event.type === "new_message" ? [event.data.content] : []));
  assert.deepEqual(contents, ["before the restart", "while it was away 1", "while it was away 2"]);
});

test("follows the drain hint: reconnects at once within the jitter window, not after the back-off", async () => {
  const alice = client();
  await alice.opened();
  const drained = nextEvent(alice, "reconnect");
  const reconnecting = nextEvent(alice, "state", (event) => event.state === "reconnecting");
  await live.server.stop();
  await drained;
  const state = await reconnecting;
  assert.equal(state.delayMs, 50, "random 0.5 of the 100 ms drain window");
  assert.match(state.reason ?? "", /drain/);
  await live.server.startAgain();
  await alice.opened();
});

test("backs off exponentially with full jitter while the server is down, and starts over once connected", async () => {
  const alice = client();
  await alice.opened();
  const states: StateEvent[] = [];
  alice.on("state", (event) => states.push(event));
  await live.server.stop();
  const tries = async (count: number): Promise<number[]> => {
    while (states.filter((event) => event.state === "reconnecting").length < count) {
      await nextEvent(alice, "state", (event) => event.state === "reconnecting");
    }
    return states.filter((event) => event.state === "reconnecting").map((event) => event.delayMs!);
  };
  // The drain hint first (half the 100 ms window), then failures: 0.5 × min(160, 40 × 2ⁿ).
  assert.deepEqual((await tries(5)).slice(0, 5), [50, 20, 40, 80, 80]);
  await live.server.startAgain();
  await alice.opened();
  states.length = 0;
  await live.server.stop();
  assert.deepEqual((await tries(2)).slice(0, 2), [50, 20], "the back-off starts over after a success");
  await live.server.startAgain();
});

test("a conversation the server refuses is dropped from the subscriptions, so a reconnect does not ask again", async () => {
  const alice = client();
  await alice.opened();
  const refused = nextEvent(alice, "error");
  alice.subscribe(987_654);
  alice.subscribe(DEMO_CONVERSATION);
  assert.deepEqual([...alice.subscriptions], [987_654, DEMO_CONVERSATION]);
  assert.equal((await refused).code, "forbidden");
  assert.deepEqual([...alice.subscriptions], [DEMO_CONVERSATION]);
});
