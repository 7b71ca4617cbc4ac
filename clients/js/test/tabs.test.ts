/**
 * Tabs of one login sharing one socket, against a real standalone server: Node's
 * BroadcastChannel joins the clients as a browser's joins its tabs, and FakeLocks elects the
 * leader as the browser's Web Locks would (Node 20 has none).
 */

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { WebSocket } from "ws";

import { connect, type LivedeskClient } from "../src/client.js";
import type { PersistentEvent, TabHost } from "../src/index.js";
import { nextEvent, record } from "./support/events.js";
import { FakeLocks } from "./support/locks.js";
import { ManualSignals } from "./support/signals.js";
import { ADMIN, ALICE, api, login, Standalone } from "./support/standalone.js";

const DEMO_CONVERSATION = 1;
let server: Standalone;
let adminToken: string;
const clients: LivedeskClient[] = [];

before(async () => {
  server = await Standalone.start();
  adminToken = await login(server.url, ADMIN);
});
after(async () => {
  for (const client of clients) client.close();
  await server.dispose();
});

/** One browser: its locks, its channels, and the sockets its tabs opened. */
class Browser {
  sockets = 0;
  readonly tabs: TabHost = { locks: new FakeLocks(), channel: (name) => new BroadcastChannel(name) };

  open(email = ALICE, extra: Partial<Parameters<typeof connect>[0]> = {}): LivedeskClient {
    const counter = this; // eslint-style alias: the class below needs this browser, not itself
    class CountedWebSocket extends WebSocket {
      constructor(url: string) {
        super(url);
        counter.sockets += 1;
      }
    }
    const made = connect({
      url: server.url,
      token: () => login(server.url, email),
      WebSocket: CountedWebSocket,
      signals: new ManualSignals(),
      tabs: this.tabs,
      ...extra,
    });
    clients.push(made);
    return made;
  }
}

async function post(content: string): Promise<void> {
  await api(server.url, adminToken, "POST", `/v1/conversations/${DEMO_CONVERSATION}/messages:import`, { content, kind: "incoming" });
}

function offsetsOf(events: readonly { type: string }[]): number[] {
  return events.flatMap((event) => (event.type === "new_message" ? [(event as PersistentEvent).offset] : []));
}

function contentsOf(events: readonly { type: string }[]): string[] {
  return events.flatMap((event) => (event.type === "new_message" && "data" in event ? [(event.data as { content: string }).content] : []));
}

test("two tabs of one login hold one socket, and both see every event", async () => {
  const browser = new Browser();
  const first = browser.open();
  const firstLeads = nextEvent(first, "leader");
  await first.opened();
  await firstLeads;
  const second = browser.open();
  await second.opened();
  assert.equal(first.isLeader, true);
  assert.equal(second.isLeader, false);

  const [firstSeen, secondSeen] = [record(first), record(second)];
  const last = [first, second].map((tab) => nextEvent(tab, "new_message", (event) => event.data.content === "three"));
  for (const content of ["one", "two", "three"]) await post(content);
  await Promise.all(last);

  assert.deepEqual(contentsOf(firstSeen), ["one", "two", "three"]);
  assert.deepEqual(contentsOf(secondSeen), ["one", "two", "three"]);
  assert.equal(browser.sockets, 1, "the follower opened none");
  first.close();
  second.close();
});

test("a follower subscribes and types through the leader's socket", async () => {
  const browser = new Browser();
  const leader = browser.open();
  await leader.opened();
  const follower = browser.open();
  await follower.opened();
  const admin = connect({ url: server.url, token: () => login(server.url, ADMIN), WebSocket, signals: new ManualSignals(), tabs: false });
  clients.push(admin);
  await admin.opened();
  admin.subscribe(DEMO_CONVERSATION);
  await nextEvent(admin, "subscribed");

  const subscribed = nextEvent(follower, "subscribed");
  follower.subscribe(DEMO_CONVERSATION);
  assert.equal((await subscribed).conversation_id, DEMO_CONVERSATION);
  const typing = nextEvent(admin, "typing", (event) => event.state === "start");
  follower.typing.input(DEMO_CONVERSATION);
  await typing;
  assert.equal(browser.sockets, 1);
  for (const client of [leader, follower, admin]) client.close();
});

test("when the leader closes, another tab takes over and delivers every offset once", async () => {
  const browser = new Browser();
  const leader = browser.open();
  await leader.opened();
  const signals = new ManualSignals();
  const follower = browser.open(ALICE, { signals });
  await follower.opened();
  const seen = record(follower);

  await post("before the handover");
  await nextEvent(follower, "new_message", (event) => event.data.content === "before the handover");
  // Offline, the new leader waits for "online": these events come while no tab has a socket.
  signals.fire("offline");
  const takesOver = nextEvent(follower, "leader");
  leader.close();
  await takesOver;
  await post("during the handover 1");
  await post("during the handover 2");
  const reopened = nextEvent(follower, "state", (event) => event.state === "open");
  signals.fire("online");
  await reopened;
  await post("after the handover");
  await nextEvent(follower, "new_message", (event) => event.data.content === "after the handover");

  assert.equal(follower.isLeader, true);
  assert.equal(browser.sockets, 2, "one socket at a time: the leader's, then the follower's");
  const offsets = offsetsOf(seen);
  assert.deepEqual(offsets, offsets.map((_, index) => offsets[0]! + index), "consecutive offsets, each once");
  assert.deepEqual(contentsOf(seen), ["before the handover", "during the handover 1", "during the handover 2", "after the handover"]);
  follower.close();
});

test("a tab that joins with an older offset gets what it missed from the leader", async () => {
  const browser = new Browser();
  const leader = browser.open();
  await leader.opened();
  await post("warm up"); // so that the account has an offset
  const start = (await nextEvent(leader, "new_message")).offset;
  await post("missed 1");
  await post("missed 2");
  await nextEvent(leader, "new_message", (event) => event.data.content === "missed 2");

  const late = browser.open(ALICE, { resumeFrom: start });
  const seen = record(late);
  await late.opened();
  await post("live");
  await nextEvent(late, "new_message", (event) => event.data.content === "live");
  assert.deepEqual(contentsOf(seen), ["missed 1", "missed 2", "live"]);
  assert.equal(browser.sockets, 1);

  const stale = browser.open(ALICE, { resumeFrom: 0 });
  const resync = nextEvent(stale, "resync_required");
  await stale.opened();
  assert.ok((await resync).offset > start, "the events after 0 were never kept: reload");
  for (const client of [leader, late, stale]) client.close();
});

test("other logins, and clients told not to share, keep sockets of their own", async () => {
  const browser = new Browser();
  const alice = browser.open();
  const admin = browser.open(ADMIN);
  const alone = browser.open(ALICE, { tabs: false });
  await Promise.all([alice.opened(), admin.opened(), alone.opened()]);
  assert.equal(browser.sockets, 3);
  assert.deepEqual([alice.isLeader, admin.isLeader, alone.isLeader], [true, true, true]);
  for (const client of [alice, admin, alone]) client.close();
});
