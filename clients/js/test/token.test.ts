/**
 * Against a real standalone server whose tokens live 3 s: the client renews its token on the
 * open socket before it expires, and after a 4401 `token_expired` asks for a fresh one and
 * reconnects.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";

import type { LivedeskClient } from "../src/client.js";
import type { StateEvent, TokenReason } from "../src/index.js";
import { expiryMs } from "../src/token.js";
import { nextEvent } from "./support/events.js";
import { LiveServer } from "./support/live.js";
import { login } from "./support/standalone.js";

const TOKEN_TTL_S = 3;
const live = new LiveServer({ LIVEDESK_TOKENS__ACCESS_TTL_S: String(TOKEN_TTL_S) });

function client(token: (reason: TokenReason) => Promise<string>): LivedeskClient {
  return live.client({ token, backoff: { baseMs: 40, maxMs: 160 } });
}

test("renews the token on the open socket before it expires: the socket outlives its first token", async () => {
  const reasons: TokenReason[] = [];
  const issued: string[] = [];
  const alice = client(async (reason) => {
    reasons.push(reason);
    issued.push(await login(live.server.url));
    return issued.at(-1)!;
  });
  const states: StateEvent[] = [];
  alice.on("state", (event) => states.push(event));
  await alice.opened();
  await nextEvent(alice, "auth_renewed");
  await sleep(Math.max(0, expiryMs(issued[0]!)! - Date.now()) + 1_000); // past the first token's expiry
  assert.deepEqual(
    states.map((event) => event.state),
    ["open"],
    "one socket throughout",
  );
  assert.equal(reasons[0], "connect");
  assert.ok(reasons.slice(1).every((reason) => reason === "expiring") && reasons.length >= 2, String(reasons));
});

test("after a 4401 token_expired it asks the provider for a fresh token and reconnects", async () => {
  const reasons: TokenReason[] = [];
  let cached: string | undefined;
  const alice = client(async (reason) => {
    reasons.push(reason);
    // An app whose refresh is late: it gives the same token until the server refuses it.
    if (cached === undefined || reason === "expired") cached = await login(live.server.url);
    return cached;
  });
  await alice.opened();
  const dropped = await nextEvent(alice, "state", (event) => event.state === "reconnecting", 10_000);
  assert.match(dropped.reason ?? "", /4401.*token_expired/);
  await alice.opened();
  assert.equal(reasons.at(-1), "expired");
});
