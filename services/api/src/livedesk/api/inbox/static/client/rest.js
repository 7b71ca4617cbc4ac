/**
 * The few REST calls the client itself makes, with the app's token, a time limit, and one
 * more try with a fresh token after a 401. Errors say whether trying again can help.
 */
/** An answer of the API that is not a success: its `code` is stable, its message readable. */
export class ApiError extends Error {
    status;
    code;
    constructor(status, code, message) {
        super(message);
        this.status = status;
        this.code = code;
        this.name = "ApiError";
    }
}
/** Whether the same request may succeed later: no answer, a server error, or "slow down". */
export function isTransient(error) {
    if (!(error instanceof ApiError))
        return true; // no answer: network down, timed out
    return error.status >= 500 || error.status === 408 || error.status === 429;
}
/** Long enough for a slow answer, short enough that a dead server is noticed: 15 s. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 15_000;
export class RestClient {
    baseUrl;
    tokens;
    fetch;
    timeoutMs;
    constructor(baseUrl, tokens, fetch, timeoutMs) {
        this.baseUrl = baseUrl;
        this.tokens = tokens;
        this.fetch = fetch;
        this.timeoutMs = timeoutMs;
    }
    async request(method, path, body) {
        const response = await this.send(method, path, body, await this.tokens.current());
        if (response.status !== 401)
            return this.read(response);
        return this.read(await this.send(method, path, body, await this.tokens.ask("expired")));
    }
    send(method, path, body, token) {
        const headers = { authorization: `Bearer ${token}` };
        if (body !== undefined)
            headers["content-type"] = "application/json";
        return this.fetch(new URL(path, this.baseUrl), {
            method,
            headers,
            signal: AbortSignal.timeout(this.timeoutMs),
            ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
    }
    async read(response) {
        const text = await response.text();
        if (response.ok)
            return (text ? JSON.parse(text) : null);
        let data = null;
        try {
            data = JSON.parse(text);
        }
        catch {
            // not the API's JSON (a proxy's error page): the status says enough
        }
        const { code, message } = (data ?? {});
        throw new ApiError(response.status, typeof code === "string" ? code : `http_${response.status}`, typeof message === "string" ? message : response.statusText);
    }
}
