/**
 * Messages the app sent that the API has not confirmed yet. Each has a client id, so sending
 * it again after a lost answer returns the message already written (the API is idempotent by
 * `client_id`): it is written exactly once, however often it is tried. They are tried in the
 * order they were sent; a failure that may pass (no network, a server error) keeps a message
 * pending and tries again after a back-off and on every reconnect; one that will not (the
 * conversation is gone, the content is refused) marks it failed until the app retries or
 * discards it.
 *
 * Deliberately not here: keeping the queue across page loads.
 */
import { Timer } from "./clock.js";
import { isTransient } from "./rest.js";
export class DiscardedError extends Error {
    constructor(clientId) {
        super(`message ${clientId} was discarded before it was written`);
        this.name = "DiscardedError";
    }
}
export class Outbox {
    options;
    entries = new Map();
    flushing = false;
    again = false; // flush was asked for during a flush
    later;
    constructor(options) {
        this.options = options;
        this.later = new Timer(options.clock);
    }
    get items() {
        return [...this.entries.values()].map((entry) => entry.item);
    }
    /** Queue a message and try it; resolves when written, rejects if it fails for good. */
    add(conversationId, content, kind, clientId) {
        if (this.entries.has(clientId))
            return this.retry(clientId);
        const item = { clientId, conversationId, content, kind, status: "pending" };
        this.entries.set(clientId, { item, waiters: [] });
        return this.retry(clientId);
    }
    /** Try a failed message again now (or wait for a pending one); as `add`. */
    retry(clientId) {
        const entry = this.entries.get(clientId);
        if (entry === undefined)
            return Promise.reject(new Error(`no queued message ${clientId}`));
        const promise = new Promise((resolve, reject) => entry.waiters.push({ resolve, reject }));
        promise.catch(() => undefined); // an app that does not await it must not crash on it
        if (entry.item.status === "failed") {
            const { error: _error, ...item } = entry.item;
            this.update(entry, { ...item, status: "pending" });
        }
        else {
            this.changed();
        }
        this.flush();
        return promise;
    }
    /** Drop a pending or failed message; false if it is being sent (it may be written). */
    discard(clientId) {
        const entry = this.entries.get(clientId);
        if (entry === undefined || entry.item.status === "sending")
            return false;
        this.entries.delete(clientId);
        this.settle(entry, (waiter) => waiter.reject(new DiscardedError(clientId)));
        this.changed();
        return true;
    }
    /** Try every pending message now, oldest first (on reconnect, or when one is added). */
    flush() {
        this.later.cancel();
        if (this.flushing) {
            this.again = true;
            return;
        }
        this.flushing = true;
        void this.drain().finally(() => {
            this.flushing = false;
            if (this.again) {
                this.again = false;
                this.flush();
            }
        });
    }
    settle(entry, how) {
        const waiters = entry.waiters;
        entry.waiters = [];
        waiters.forEach(how);
    }
    async drain() {
        for (const [clientId, entry] of this.entries) {
            if (entry.item.status !== "pending")
                continue;
            this.update(entry, { ...entry.item, status: "sending" });
            try {
                const message = await this.options.post(entry.item);
                this.entries.delete(clientId);
                this.options.backoff.reset();
                this.changed();
                this.options.sent({ type: "sent", clientId, message });
                this.settle(entry, (waiter) => waiter.resolve(message));
            }
            catch (error) {
                if (isTransient(error)) {
                    this.update(entry, { ...entry.item, status: "pending", error });
                    this.later.arm(this.options.backoff.next(), () => this.flush());
                    return; // the rest would fail the same way; keep their order
                }
                this.update(entry, { ...entry.item, status: "failed", error });
                this.settle(entry, (waiter) => waiter.reject(error));
            }
        }
    }
    update(entry, item) {
        entry.item = item;
        this.changed();
    }
    changed() {
        this.options.changed({ type: "outbox", items: this.items });
    }
}
