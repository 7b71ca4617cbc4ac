import assert from "node:assert/strict";
import { test } from "node:test";

import { Backoff } from "../src/backoff.js";

test("each window doubles up to the cap, and the delay is a random point of it (full jitter)", () => {
  const draws = [0, 0.999, 0.5, 0.5, 0.5, 0.5];
  const backoff = new Backoff({ baseMs: 100, maxMs: 1_000 }, () => draws.shift()!);
  assert.deepEqual(
    [backoff.next(), backoff.next(), backoff.next(), backoff.next(), backoff.next(), backoff.next()],
    [0, 199, 200, 400, 500, 500],
  );
});

test("a success starts the windows over", () => {
  const backoff = new Backoff({ baseMs: 100, maxMs: 1_000 }, () => 0.5);
  backoff.next();
  backoff.next();
  backoff.reset();
  assert.equal(backoff.next(), 50);
  assert.equal(backoff.attempt, 1);
});
