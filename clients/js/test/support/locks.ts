/**
 * Web Locks as one browser grants them, for Node (which has none): exclusive, first come first
 * served, held until the holder's promise settles; a waiter whose signal aborts leaves the queue.
 */

import type { LockManagerLike } from "../../src/tab-host.js";

interface Waiter {
  hold: () => Promise<void>;
  settle: (error?: unknown) => void;
}

export class FakeLocks implements LockManagerLike {
  private readonly queues = new Map<string, Waiter[]>();
  private readonly held = new Set<string>();

  request(name: string, options: { signal: AbortSignal }, hold: () => Promise<void>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const queue = this.queues.get(name) ?? [];
      this.queues.set(name, queue);
      const waiter: Waiter = { hold, settle: (error) => (error === undefined ? resolve(undefined) : reject(error)) };
      queue.push(waiter);
      options.signal.addEventListener("abort", () => {
        const index = queue.indexOf(waiter);
        if (index < 0) return; // granted already: held until `hold` settles
        queue.splice(index, 1);
        reject(new DOMException("the request was aborted", "AbortError"));
      });
      this.grant(name);
    });
  }

  private grant(name: string): void {
    if (this.held.has(name)) return;
    const next = this.queues.get(name)?.shift();
    if (next === undefined) return;
    this.held.add(name);
    next
      .hold()
      .then(() => next.settle(), next.settle)
      .finally(() => {
        this.held.delete(name);
        this.grant(name);
      });
  }
}
