/** The pieces of tab sharing that need no server: recent events, shared subscriptions, the host. */

import assert from "node:assert/strict";
import { test } from "node:test";

import type { NewMessageEvent, ServerFrame } from "../src/protocol.js";
import { RecentEvents } from "../src/recent.js";
import { SharedSubscriptions } from "../src/shared-subscriptions.js";
import { hostTabs, parseTabMessage } from "../src/tab-host.js";
import { loginOf } from "../src/token.js";

function event(offset: number): NewMessageEvent {
  return { type: "new_message", offset, account_id: 1, conversation_id: 1, ts: "", data: {} as NewMessageEvent["data"] };
}

test("recent events replay what came after an offset, and say when they cannot", () => {
  const recent = new RecentEvents(3);
  for (const offset of [5, 6, 7, 8]) recent.record(event(offset));
  assert.deepEqual(recent.after(6, 8)?.map((e) => e.offset), [7, 8]);
  assert.deepEqual(recent.after(5, 8)?.map((e) => e.offset), [6, 7, 8], "5 was dropped, 6-8 are kept");
  assert.equal(recent.after(4, 8), undefined, "5 is gone");
  assert.deepEqual(recent.after(8, 8), []);
  assert.deepEqual(recent.after(9, 8), [], "a tab ahead of the others needs nothing");
  assert.equal(recent.after(undefined, 8), undefined);
  assert.deepEqual(recent.after(undefined, undefined), [], "nothing was ever seen");
});

test("recent events start again after a gap or a resync", () => {
  const recent = new RecentEvents();
  recent.record(event(1));
  recent.record(event(3));
  assert.equal(recent.after(1, 3), undefined, "2 was never here");
  recent.record({ type: "resync_required", offset: 10, message: "" } satisfies ServerFrame);
  assert.equal(recent.after(3, 10), undefined);
  assert.deepEqual(new RecentEvents().after(3, 10), undefined, "none kept: only a tab at the latest is complete");
});

test("an unsubscribe reaches the socket only when no other tab wants the conversation", () => {
  const shared = new SharedSubscriptions();
  assert.equal(shared.admit("a", { type: "subscribe", conversation_id: 1 }), true);
  assert.equal(shared.admit("b", { type: "subscribe", conversation_id: 1 }), true, "b gets its own subscribed");
  assert.equal(shared.admit("a", { type: "unsubscribe", conversation_id: 1 }), false, "b still wants it");
  assert.equal(shared.admit("b", { type: "unsubscribe", conversation_id: 1 }), true);
  assert.equal(shared.admit("a", { type: "typing", conversation_id: 1, state: "start" }), true);
  shared.admit("a", { type: "subscribe", conversation_id: 2 });
  shared.admit("b", { type: "subscribe", conversation_id: 2 });
  shared.admit("b", { type: "subscribe", conversation_id: 3 });
  assert.deepEqual(shared.leave("b"), [3], "a still wants 2");
  assert.deepEqual(shared.leave("a"), [2]);
});

test("tabs share only in a page that has both Web Locks and BroadcastChannel", () => {
  assert.equal(hostTabs(), undefined, "Node: no page");
  const locks = { request: () => Promise.resolve() };
  const document = {};
  assert.equal(hostTabs({ document, BroadcastChannel }), undefined);
  assert.equal(hostTabs({ document, navigator: { locks } }), undefined);
  assert.equal(hostTabs({ navigator: { locks }, BroadcastChannel }), undefined, "Node 24 has Web Locks");
  assert.equal(hostTabs({ document, navigator: { locks }, BroadcastChannel })?.locks, locks);
});

test("a tab ignores messages it does not know", () => {
  assert.equal(parseTabMessage("hello"), null);
  assert.equal(parseTabMessage({ kind: "shout" }), null);
  assert.deepEqual(parseTabMessage({ kind: "bye", tab: "t" }), { kind: "bye", tab: "t" });
});

test("the lock is named after the login a token is for", () => {
  const token = (claims: object): string => `x.${btoa(JSON.stringify(claims)).replace(/=+$/, "")}.y`;
  assert.equal(loginOf(token({ acct: 1, sub: "2", exp: 3 })), "1:2");
  assert.equal(loginOf(token({ sub: "2" })), undefined);
  assert.equal(loginOf("opaque"), undefined);
});
