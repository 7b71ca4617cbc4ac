import assert from "node:assert/strict";
import { test } from "node:test";

import { TypingNotifier } from "../src/typing.js";
import { FakeClock } from "./support/fake-clock.js";

function notifier(intervalMs = 3_000, idleMs = 5_000): { typing: TypingNotifier; sent: string[]; clock: FakeClock } {
  const clock = new FakeClock();
  const sent: string[] = [];
  const typing = new TypingNotifier(
    (conversationId, state) => {
      sent.push(`${conversationId}:${state}`);
      return true;
    },
    clock,
    () => intervalMs,
    idleMs,
  );
  return { typing, sent, clock };
}

test("start is sent at most once per interval while typing", () => {
  const { typing, sent, clock } = notifier();
  for (let i = 0; i < 10; i += 1) {
    typing.input(7);
    clock.advance(500); // ten keys over 5 s
  }
  assert.deepEqual(sent, ["7:start", "7:start"]);
});

test("a pause ends the typing with a stop", () => {
  const { typing, sent, clock } = notifier();
  typing.input(7);
  clock.advance(4_999);
  assert.deepEqual(sent, ["7:start"]);
  clock.advance(1);
  assert.deepEqual(sent, ["7:start", "7:stop"]);
});

test("send or blur says stop once, and only after a start", () => {
  const { typing, sent, clock } = notifier();
  typing.stop(7);
  typing.input(7);
  typing.stop(7);
  typing.stop(7);
  clock.advance(10_000);
  assert.deepEqual(sent, ["7:start", "7:stop"]);
});

test("the interval is read on each key, so the server's value applies from its next ready", () => {
  let intervalMs = 3_000;
  const clock = new FakeClock();
  const sent: number[] = [];
  const typing = new TypingNotifier(() => sent.push(clock.now()) > 0, clock, () => intervalMs, 60_000);
  typing.input(1);
  intervalMs = 1_000;
  clock.advance(1_000);
  typing.input(1);
  assert.equal(sent.length, 2);
});

test("after a reconnect the next key says start again: the new socket's server forgot it", () => {
  const { typing, sent } = notifier();
  typing.input(7);
  typing.reset();
  typing.input(7);
  assert.deepEqual(sent, ["7:start", "7:start"]);
});
