/**
 * One socket per browser rather than per tab: the tabs of a login elect a leader with a Web
 * Lock; the leader holds the socket (a `Connection`) and relays every frame and state change on
 * a BroadcastChannel; the others send their frames through it. When the leader's tab closes,
 * the browser gives the lock to another tab, which resumes from the last offset any tab saw, so
 * that no tab misses an event; each tab still drops the offsets it already delivered.
 *
 * Deliberately not here: what a socket does (connection.ts), and REST (each tab posts its own
 * messages). A tab that joins gets the events after its offset from the leader's recent ones.
 */
import { admit, OffsetTracker } from "./offsets.js";
import { RecentEvents } from "./recent.js";
import { SharedSubscriptions } from "./shared-subscriptions.js";
import { parseTabMessage } from "./tab-host.js";
const STALE_TAB = "this tab's offset is older than the events the tabs kept: reload your state";
export class TabLink {
    options;
    connection;
    channel;
    abort = new AbortController();
    release = () => undefined;
    /** The last offset any tab saw; the leader's socket resumes from it. */
    stream = new OffsetTracker(undefined);
    recent = new RecentEvents();
    subscriptions = new SharedSubscriptions();
    current;
    ready;
    /** Frames relayed after this tab's hello, held until the welcome's catch-up is delivered. */
    held;
    stopped = false;
    constructor(options) {
        this.options = options;
    }
    get state() {
        return this.current?.state;
    }
    get isLeader() {
        return this.connection !== undefined;
    }
    start() {
        void this.join();
    }
    send(frame) {
        if (this.connection !== undefined) {
            return this.subscriptions.admit(this.options.tab, frame) ? this.connection.send(frame) : true;
        }
        if (this.stopped || this.current?.state !== "open")
            return false;
        this.post({ kind: "send", tab: this.options.tab, frame });
        return true;
    }
    close() {
        if (this.stopped)
            return;
        this.stopped = true;
        if (this.connection !== undefined) {
            this.connection.close(); // its "closed" is this tab's alone: the next leader takes over
        }
        else {
            this.post({ kind: "bye", tab: this.options.tab });
            this.options.state({ type: "state", state: "closed", reason: "closed by the app" });
        }
        this.abort.abort();
        this.release();
        const channel = this.channel;
        this.channel = undefined;
        if (channel !== undefined) {
            channel.onmessage = null;
            channel.close();
        }
    }
    async join() {
        const name = await this.options.name().catch(() => undefined);
        if (this.stopped)
            return;
        if (name === undefined) {
            this.lead();
            return;
        }
        const channel = this.options.host.channel(name);
        this.channel = channel;
        channel.onmessage = (event) => {
            const message = parseTabMessage(event.data);
            if (message !== null && !this.stopped)
                this.receive(message);
        };
        this.hello();
        const hold = () => new Promise((released) => {
            this.release = released;
            if (this.stopped)
                released(); // granted as the app closed: pass it on
            else
                this.lead();
        });
        // Rejects when close() aborts the wait; a granted lock is held until `release`.
        this.options.host.locks.request(name, { signal: this.abort.signal }, hold).catch(() => undefined);
    }
    lead() {
        this.deliverHeld();
        // The earliest of the two: this tab may have been given less than the others saw.
        const mine = this.options.offsets.offset;
        const seen = this.stream.offset;
        this.stream = new OffsetTracker(mine === undefined || seen === undefined ? (seen ?? mine) : Math.min(mine, seen));
        this.ready = undefined; // the old leader's socket's: a welcome must not offer it as open
        this.post({ kind: "leader", tab: this.options.tab });
        this.options.leading();
        this.connection = this.options.connect(this.stream, {
            deliver: (frame) => {
                this.recent.record(frame);
                if (frame.type === "ready")
                    this.ready = frame;
                this.post({ kind: "frame", frame });
                this.deliverHere(frame);
            },
            state: (event) => {
                this.current = event;
                if (!this.stopped)
                    this.post({ kind: "state", event });
                this.options.state(event);
            },
            opened: (ready) => this.options.opened(ready),
        });
        this.connection.start();
    }
    receive(message) {
        if (this.connection !== undefined) {
            this.answer(message);
            return;
        }
        switch (message.kind) {
            case "leader":
                this.hello(); // a new socket: ask it for what this tab may have missed in the handover
                break;
            case "state":
                this.mirror(message.event);
                break;
            case "frame":
                if (this.held !== undefined)
                    this.held.push(message.frame);
                else
                    this.follow(message.frame);
                break;
            case "welcome":
                if (message.to === this.options.tab)
                    this.welcomed(message);
                break;
        }
    }
    /** As the leader: a follower's hello, frame or goodbye. */
    answer(message) {
        const connection = this.connection;
        if (connection === undefined)
            return;
        switch (message.kind) {
            case "hello": {
                const latest = this.stream.offset;
                const events = message.offset === undefined ? [] : this.recent.after(message.offset, latest);
                this.post({ kind: "welcome", to: message.tab, state: this.current, ready: this.ready, latest, events });
                break;
            }
            case "send":
                if (this.subscriptions.admit(message.tab, message.frame))
                    connection.send(message.frame);
                break;
            case "bye":
                for (const id of this.subscriptions.leave(message.tab)) {
                    connection.send({ type: "unsubscribe", conversation_id: id });
                }
                break;
        }
    }
    hello() {
        this.held ??= [];
        this.post({ kind: "hello", tab: this.options.tab, offset: this.options.offsets.offset });
    }
    welcomed(welcome) {
        if (welcome.latest !== undefined)
            this.options.offsets.adoptIfUnset(welcome.latest);
        if (welcome.state !== undefined)
            this.mirror(welcome.state);
        if (welcome.events === undefined && welcome.latest !== undefined) {
            this.deliverHere({ type: "resync_required", offset: welcome.latest, message: STALE_TAB });
        }
        for (const event of welcome.events ?? [])
            this.follow(event);
        if (welcome.ready !== undefined && welcome.state?.state === "open")
            this.follow(welcome.ready);
        this.deliverHeld();
    }
    deliverHeld() {
        const held = this.held ?? [];
        this.held = undefined;
        for (const frame of held)
            this.follow(frame);
    }
    /** As a follower: a frame the leader's socket delivered. */
    follow(frame) {
        if (admit(this.stream, frame))
            this.recent.record(frame);
        if (frame.type === "ready") {
            this.ready = frame;
            this.options.opened(frame);
        }
        this.deliverHere(frame);
    }
    mirror(event) {
        this.current = event;
        this.options.state(event);
    }
    deliverHere(frame) {
        if (admit(this.options.offsets, frame))
            this.options.deliver(frame);
    }
    post(message) {
        this.channel?.postMessage(message);
    }
}
