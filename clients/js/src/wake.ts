/**
 * What the host says about the network and the page: `online`/`offline` and a page that
 * became visible again. A laptop that slept wakes with a socket that looks open and is dead;
 * these signals let the client check it at once instead of at the next heartbeat. In Node
 * (no window, no document) there are none.
 */

export type WakeSignal = "online" | "offline" | "visible";

export interface WakeSignals {
  /** Whether the host believes it has a network (navigator.onLine); true when it cannot say. */
  online(): boolean;
  /** Call `listener` on each signal; the returned function stops that. */
  listen(listener: (signal: WakeSignal) => void): () => void;
}

interface BrowserGlobals {
  addEventListener?: (type: string, listener: () => void) => void;
  removeEventListener?: (type: string, listener: () => void) => void;
  navigator?: { onLine?: boolean };
  document?: {
    visibilityState?: string;
    addEventListener(type: string, listener: () => void): void;
    removeEventListener(type: string, listener: () => void): void;
  };
}

/** The signals of the browser this runs in, or none outside one. */
export function hostWakeSignals(host: BrowserGlobals = globalThis as BrowserGlobals): WakeSignals {
  return {
    online: () => host.navigator?.onLine !== false,
    listen(listener) {
      const online = (): void => listener("online");
      const offline = (): void => listener("offline");
      const visibility = (): void => {
        if (host.document?.visibilityState === "visible") listener("visible");
      };
      host.addEventListener?.("online", online);
      host.addEventListener?.("offline", offline);
      host.document?.addEventListener("visibilitychange", visibility);
      return () => {
        host.removeEventListener?.("online", online);
        host.removeEventListener?.("offline", offline);
        host.document?.removeEventListener("visibilitychange", visibility);
      };
    },
  };
}
