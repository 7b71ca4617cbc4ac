/**
 * The access token: asked of the app's provider when there is none, before it expires, and
 * after the server said it expired, so that a refresh-token flow lives in the app and the
 * client only says when it needs a token. Concurrent askers share one call.
 */
/**
 * Renew this long before `exp`, but never before half the token's remaining life: an
 * hour-long token is renewed a minute early, a 4-second one after 2 s.
 */
export const DEFAULT_RENEW_MARGIN_MS = 60_000;
export class TokenKeeper {
    provider;
    clock;
    renewMarginMs;
    token;
    asking;
    constructor(provider, clock, renewMarginMs = DEFAULT_RENEW_MARGIN_MS) {
        this.provider = provider;
        this.clock = clock;
        this.renewMarginMs = renewMarginMs;
    }
    /** The token last given by the provider, if any. */
    get held() {
        return this.token;
    }
    /** The token to use now: the one held unless there is none or it has expired. */
    async current() {
        if (this.token === undefined)
            return this.ask("connect");
        const expiresAt = expiryMs(this.token);
        if (expiresAt !== undefined && expiresAt <= this.clock.now())
            return this.ask("expired");
        return this.token;
    }
    /** A fresh token from the provider, whatever is held. */
    ask(reason) {
        this.asking ??= (async () => {
            try {
                const token = await this.provider(reason);
                this.token = token;
                return token;
            }
            finally {
                this.asking = undefined;
            }
        })();
        return this.asking;
    }
    /** Milliseconds until the held token should be renewed, or undefined if it has no `exp`. */
    renewInMs() {
        const expiresAt = this.token === undefined ? undefined : expiryMs(this.token);
        if (expiresAt === undefined)
            return undefined;
        const remaining = Math.max(0, expiresAt - this.clock.now());
        return Math.max(remaining / 2, remaining - this.renewMarginMs);
    }
}
/** A JWT's `exp` in milliseconds, or undefined for a token that is not a JWT or has none. */
export function expiryMs(token) {
    const exp = claimsOf(token)?.["exp"];
    return typeof exp === "number" ? exp * 1000 : undefined;
}
/** Who a Livedesk token is for, `<account>:<user>`, or undefined if it does not say. */
export function loginOf(token) {
    const claims = claimsOf(token);
    const account = claims?.["acct"];
    const user = claims?.["sub"];
    const named = (value) => typeof value === "string" || typeof value === "number";
    return named(account) && named(user) ? `${String(account)}:${String(user)}` : undefined;
}
/** A JWT's payload, unverified (the server verifies), or undefined for what is not a JWT. */
function claimsOf(token) {
    const payload = token.split(".")[1];
    if (payload === undefined)
        return undefined;
    try {
        const base64 = payload.replace(/-/g, "+").replace(/_/g, "/");
        const claims = JSON.parse(atob(base64.padEnd(Math.ceil(base64.length / 4) * 4, "=")));
        return typeof claims === "object" && claims !== null ? claims : undefined;
    }
    catch {
        return undefined;
    }
}
