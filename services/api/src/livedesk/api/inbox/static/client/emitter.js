/**
 * `on`/`off`/`once` per event type and `*` for every event, typed by an event map whose
 * values all carry their own `type`. A listener that throws does not stop the others or the
 * client: the error is rethrown on a later turn, where the host (the browser's console,
 * Node's uncaughtException) reports it.
 */
export class Emitter {
    listeners = new Map();
    on(type, listener) {
        let set = this.listeners.get(type);
        if (set === undefined)
            this.listeners.set(type, (set = new Set()));
        set.add(listener);
        return () => this.off(type, listener);
    }
    off(type, listener) {
        this.listeners.get(type)?.delete(listener);
    }
    once(type, listener) {
        const stop = this.on(type, (event) => {
            stop();
            listener(event);
        });
        return stop;
    }
    emit(event) {
        for (const key of [event.type, "*"]) {
            for (const listener of [...(this.listeners.get(key) ?? [])]) {
                try {
                    listener(event);
                }
                catch (error) {
                    setTimeout(() => {
                        throw error;
                    });
                }
            }
        }
    }
}
