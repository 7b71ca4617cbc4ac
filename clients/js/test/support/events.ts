/** Waiting for a client's events in a test, with a deadline so that a missing one fails it. */

import type { ClientEvent, EventMap, LivedeskClient } from "../../src/client.js";
import type { EventOf } from "../../src/emitter.js";

export function nextEvent<K extends keyof EventMap | "*">(
  client: LivedeskClient,
  type: K,
  matches: (event: EventOf<EventMap, K>) => boolean = () => true,
  timeoutMs = 10_000,
): Promise<EventOf<EventMap, K>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`no ${String(type)} event within ${timeoutMs} ms`));
    }, timeoutMs);
    const stop = client.on(type, (event) => {
      if (!matches(event)) return;
      clearTimeout(timer);
      stop();
      resolve(event);
    });
  });
}

/** Every event the client emits, in order, for assertions after the fact. */
export function record(client: LivedeskClient): ClientEvent[] {
  const seen: ClientEvent[] = [];
  client.on("*", (event) => seen.push(event));
  return seen;
}
