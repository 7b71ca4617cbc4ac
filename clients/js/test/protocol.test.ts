import assert from "node:assert/strict";
import { test } from "node:test";

import { parseServerFrame, persistentOffset } from "../src/protocol.js";

test("a known frame is parsed; an unknown type, an inherited name or no JSON is skipped", () => {
  assert.deepEqual(parseServerFrame('{"type":"pong","offset":4}'), { type: "pong", offset: 4 });
  assert.equal(parseServerFrame('{"type":"new_telegram"}'), null);
  assert.equal(parseServerFrame('{"type":"toString"}'), null);
  assert.equal(parseServerFrame("{not json"), null);
});

test("only persistent events have an offset to track; pong's is the server's latest, not an event's", () => {
  const message = parseServerFrame('{"type":"new_message","offset":7,"account_id":1,"conversation_id":2}');
  const pong = parseServerFrame('{"type":"pong","offset":7}');
  const typing = parseServerFrame('{"type":"typing","account_id":1,"conversation_id":2,"user_id":3,"state":"start"}');
  assert.ok(message && pong && typing);
  assert.equal(persistentOffset(message), 7);
  assert.equal(persistentOffset(pong), undefined);
  assert.equal(persistentOffset(typing), undefined);
});
