/**
 * Against a real standalone server: a message sent while the server is down waits as pending
 * and is written exactly once when it is back; one the API refuses is failed until the app
 * retries or discards it.
 */

import assert from "node:assert/strict";
import { test } from "node:test";

import type { LivedeskClient } from "../src/client.js";
import { ApiError, DiscardedError, type Message } from "../src/index.js";
import { nextEvent } from "./support/events.js";
import { LiveServer } from "./support/live.js";
import { api, login } from "./support/standalone.js";

const DEMO_CONVERSATION = 1;
const live = new LiveServer();

function client(): LivedeskClient {
  return live.client({ random: () => 0.5, backoff: { baseMs: 40, maxMs: 160 }, requestTimeoutMs: 500, connectTimeoutMs: 1_000 });
}

/** The conversation's messages with this content, as the API has them. */
async function written(content: string): Promise<Message[]> {
  const token = await login(live.server.url);
  const page = await api<{ items: Message[] }>(live.server.url, token, "GET", `/v1/conversations/${DEMO_CONVERSATION}/messages?limit=100`);
  return page.items.filter((message) => message.content === content);
}

test("a message sent while the server is down is pending, then written exactly once when it is back", async () => {
  const alice = client();
  await alice.opened();
  await live.server.stop();
  const pending = nextEvent(alice, "outbox", (event) => event.items[0]?.status === "pending" && event.items[0].error !== undefined);
  const sent = alice.sendMessage(DEMO_CONVERSATION, "sent while offline");
  await pending;
  const [queued] = alice.pending;
  assert.equal(queued?.content, "sent while offline");
  await live.server.startAgain();
  const message = await sent;
  assert.equal(message.client_id, queued!.clientId);
  assert.deepEqual(alice.pending, []);
  assert.deepEqual((await written("sent while offline")).map((m) => m.client_id), [queued!.clientId]);
});

test("a message whose answer was lost (the server froze mid-request) is tried again and written once", async () => {
  const alice = client();
  await alice.opened();
  live.server.freeze();
  const sent = alice.sendMessage(DEMO_CONVERSATION, "answer lost");
  try {
    await nextEvent(alice, "outbox", (event) => event.items[0]?.status === "pending" && event.items[0].error !== undefined);
  } finally {
    live.server.thaw();
  }
  const message = await sent;
  assert.deepEqual((await written("answer lost")).map((m) => m.id), [message.id]);
});

test("a message the API refuses is failed until the app discards it", async () => {
  const alice = client();
  await alice.opened();
  const refused = alice.sendMessage(987_654, "to a conversation that does not exist");
  await assert.rejects(refused, (error: unknown) => error instanceof ApiError && error.status === 404);
  const [failed] = alice.pending;
  assert.equal(failed?.status, "failed");
  await assert.rejects(alice.retry(failed.clientId), ApiError, "tried again, refused again");
  assert.equal(alice.pending[0]?.status, "failed");
  assert.ok(alice.discard(failed.clientId));
  assert.deepEqual(alice.pending, []);
  await assert.rejects(alice.retry(failed.clientId), /no queued message/);
});

test("discarding a pending message rejects whoever waits for it", async () => {
  const alice = client();
  await alice.opened();
  await live.server.stop();
  try {
    const sent = alice.sendMessage(DEMO_CONVERSATION, "never mind");
    await nextEvent(alice, "outbox", (event) => event.items[0]?.status === "pending" && event.items[0].error !== undefined);
    assert.ok(alice.discard(alice.pending[0]!.clientId));
    await assert.rejects(sent, DiscardedError);
  } finally {
    await live.server.startAgain();
  }
});
