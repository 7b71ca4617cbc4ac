/**
 * What a browser offers for tabs to share one socket: the Web Locks API, to elect one tab
 * that holds the socket (the browser passes the lock on when that tab closes or crashes), and
 * a BroadcastChannel, for that tab to relay what the socket says and for the others to send
 * through it. Both are structural types, so that tests can pass a small fake of the locks.
 */
/**
 * The page's locks and channels, or undefined outside a page (Node, which grows Web Locks in
 * later versions, keeps a socket per client) or where either is missing (old browsers).
 */
export function hostTabs(host = globalThis) {
    const locks = host.navigator?.locks;
    const Channel = host.BroadcastChannel;
    if (host.document === undefined || locks === undefined || Channel === undefined)
        return undefined;
    return { locks, channel: (name) => new Channel(name) };
}
const KINDS = new Set(["leader", "state", "frame", "welcome", "hello", "send", "bye"]);
/** A message from another tab, or null for what this version does not know. */
export function parseTabMessage(data) {
    if (typeof data !== "object" || data === null || !("kind" in data))
        return null;
    return KINDS.has(String(data.kind)) ? data : null;
}
