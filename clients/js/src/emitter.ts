/**
 * `on`/`off`/`once` per event type and `*` for every event, typed by an event map whose
 * values all carry their own `type`. A listener that throws does not stop the others or the
 * client: the error is rethrown on a later turn, where the host (the browser's console,
 * Node's uncaughtException) reports it.
 */

export type Listener<E> = (event: E) => void;

/** What a listener of `K` gets: that event, or any event for `*`. */
export type EventOf<M, K> = K extends keyof M ? M[K] : M[keyof M];

export class Emitter<M extends { [K in keyof M]: { type: K } }> {
  private readonly listeners = new Map<keyof M | "*", Set<Listener<M[keyof M]>>>();

  on<K extends keyof M | "*">(type: K, listener: Listener<EventOf<M, K>>): () => void {
    let set = this.listeners.get(type);
    if (set === undefined) this.listeners.set(type, (set = new Set()));
    set.add(listener as Listener<M[keyof M]>);
    return () => this.off(type, listener);
  }

  off<K extends keyof M | "*">(type: K, listener: Listener<EventOf<M, K>>): void {
    this.listeners.get(type)?.delete(listener as Listener<M[keyof M]>);
  }

  once<K extends keyof M | "*">(type: K, listener: Listener<EventOf<M, K>>): () => void {
    const stop = this.on(type, (event) => {
      stop();
      listener(event);
    });
    return stop;
  }

  emit(event: M[keyof M]): void {
    for (const key of [event.type as keyof M, "*" as const]) {
      for (const listener of [...(this.listeners.get(key) ?? [])]) {
        try {
          listener(event);
        } catch (error) {
          setTimeout(() => {
            throw error;
          });
        }
      }
    }
  }
}
