/**
 * What the host says about the network and the page: `online`/`offline` and a page that
 * became visible again. A laptop that slept wakes with a socket that looks open and is dead;
 * these signals let the client check it at once instead of at the next heartbeat. In Node
 * (no window, no document) there are none.
 */
/** The signals of the browser this runs in, or none outside one. */
export function hostWakeSignals(host = globalThis) {
    return {
        online: () => host.navigator?.onLine !== false,
        listen(listener) {
            const online = () => listener("online");
            const offline = () => listener("offline");
            const visibility = () => {
                if (host.document?.visibilityState === "visible")
                    listener("visible");
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
