import assert from "node:assert/strict";
import { test } from "node:test";

import { Emitter } from "../src/emitter.js";

interface Events {
  a: { type: "a"; n: number };
  b: { type: "b" };
}

test("on, off, once and * each get what they asked for", () => {
  const events = new Emitter<Events>();
  const seen: string[] = [];
  const onA = (event: Events["a"]): void => void seen.push(`a${event.n}`);
  events.on("a", onA);
  events.once("b", () => seen.push("b-once"));
  const stopAll = events.on("*", (event) => seen.push(`*${event.type}`));
  events.emit({ type: "a", n: 1 });
  events.emit({ type: "b" });
  events.emit({ type: "b" });
  events.off("a", onA);
  stopAll();
  events.emit({ type: "a", n: 2 });
  assert.deepEqual(seen, ["a1", "*a", "b-once", "*b", "*b"]);
});
