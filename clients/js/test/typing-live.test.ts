/** Against a real standalone: what the typing helper sends reaches a colleague, start and stop. */

import assert from "node:assert/strict";
import { test } from "node:test";

import type { LivedeskClient } from "../src/client.js";
import { nextEvent } from "./support/events.js";
import { LiveServer } from "./support/live.js";
import { ADMIN, ALICE, login } from "./support/standalone.js";

const DEMO_CONVERSATION = 1;
const live = new LiveServer();

async function subscribed(email: string): Promise<LivedeskClient> {
  const client = live.client({ token: () => login(live.server.url, email) });
  await client.opened();
  const done = nextEvent(client, "subscribed");
  client.subscribe(DEMO_CONVERSATION);
  await done;
  return client;
}

test("a colleague sees typing start with the first key and stop when the message is sent", async () => {
  const alice = await subscribed(ALICE);
  const admin = await subscribed(ADMIN);
  const started = nextEvent(admin, "typing", (event) => event.state === "start");
  alice.typing.input(DEMO_CONVERSATION);
  const start = await started;
  // Sooner than presence's 6 s TTL would end it: the stop is the client's, not the expiry's.
  const stopped = nextEvent(admin, "typing", (event) => event.state === "stop" && event.user_id === start.user_id, 3_000);
  await alice.sendMessage(DEMO_CONVERSATION, "done typing");
  await stopped;
  assert.equal(start.conversation_id, DEMO_CONVERSATION);
});
