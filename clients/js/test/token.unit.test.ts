import assert from "node:assert/strict";
import { test } from "node:test";

import { expiryMs, TokenKeeper } from "../src/token.js";
import { FakeClock } from "./support/fake-clock.js";

function jwt(claims: object): string {
  return `e30.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.sig`;
}

test("the expiry is read from a JWT's exp; a token that is not a JWT has none", () => {
  assert.equal(expiryMs(jwt({ exp: 1_700_000_000, sub: "2" })), 1_700_000_000_000);
  assert.equal(expiryMs("opaque-token"), undefined);
  assert.equal(expiryMs("a.!!!.c"), undefined);
});

test("renewal comes a margin before expiry, but never before half the remaining life", async () => {
  const clock = new FakeClock();
  const hour = new TokenKeeper(() => jwt({ exp: (clock.now() + 3_600_000) / 1000 }), clock, 60_000);
  await hour.current();
  assert.equal(hour.renewInMs(), 3_540_000);
  const short = new TokenKeeper(() => jwt({ exp: (clock.now() + 4_000) / 1000 }), clock, 60_000);
  await short.current();
  assert.equal(short.renewInMs(), 2_000);
});

test("the provider is asked once for concurrent askers, and again once the token has expired", async () => {
  const clock = new FakeClock();
  const reasons: string[] = [];
  const keeper = new TokenKeeper((reason) => {
    reasons.push(reason);
    return jwt({ exp: (clock.now() + 10_000) / 1000 });
  }, clock);
  await Promise.all([keeper.current(), keeper.current()]);
  await keeper.current();
  clock.advance(10_000);
  await keeper.current();
  assert.deepEqual(reasons, ["connect", "expired"]);
});
