import assert from "node:assert/strict";
import { test } from "node:test";

import { OffsetTracker } from "../src/offsets.js";

test("an offset at or before the last delivered one is dropped", () => {
  const offsets = new OffsetTracker(5);
  assert.deepEqual([4, 5, 6, 6, 7, 3].map((offset) => offsets.accept(offset)), [false, false, true, false, true, false]);
  assert.equal(offsets.offset, 7);
});

test("with no offset of its own the client takes the server's first; resync restarts at the server's", () => {
  const offsets = new OffsetTracker(undefined);
  offsets.adoptIfUnset(10);
  offsets.adoptIfUnset(3);
  assert.equal(offsets.offset, 10);
  offsets.restartAt(2);
  assert.equal(offsets.accept(3), true);
});
