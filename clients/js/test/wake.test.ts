import assert from "node:assert/strict";
import { test } from "node:test";

import { hostWakeSignals, type WakeSignal } from "../src/wake.js";

test("a browser's online, offline and visibilitychange (to visible only) become wake signals", () => {
  const window = new EventTarget();
  const document = Object.assign(new EventTarget(), { visibilityState: "hidden" });
  const navigator = { onLine: false };
  const signals = hostWakeSignals(Object.assign(window, { document, navigator }));
  const seen: WakeSignal[] = [];
  const stop = signals.listen((signal) => seen.push(signal));
  assert.equal(signals.online(), false);
  window.dispatchEvent(new Event("offline"));
  document.dispatchEvent(new Event("visibilitychange")); // hidden: nothing to check
  document.visibilityState = "visible";
  document.dispatchEvent(new Event("visibilitychange"));
  window.dispatchEvent(new Event("online"));
  stop();
  window.dispatchEvent(new Event("online"));
  assert.deepEqual(seen, ["offline", "visible", "online"]);
});

test("outside a browser there are no signals and the host counts as online", () => {
  const signals = hostWakeSignals({});
  assert.equal(signals.online(), true);
  signals.listen(() => assert.fail("no signal expected"))();
});
