/**
 * The few REST calls the client itself makes, with the app's token, a time limit, and one
 * more try with a fresh token after a 401. Errors say whether trying again can help.
 */

import type { TokenKeeper } from "./token.js";

/** An answer of the API that is not a success: its `code` is stable, its message readable. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** Whether the same request may succeed later: no answer, a server error, or "slow down". */
export function isTransient(error: unknown): boolean {
  if (!(error instanceof ApiError)) return true; // no answer: network down, timed out
  return error.status >= 500 || error.status === 408 || error.status === 429;
}

export type Fetch = typeof globalThis.fetch;

/** Long enough for a slow answer, short enough that a dead server is noticed: 15 s. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 15_000;

export class RestClient {
  constructor(
    private readonly baseUrl: string,
    private readonly tokens: TokenKeeper,
    private readonly fetch: Fetch,
    private readonly timeoutMs: number,
  ) {}

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await this.send(method, path, body, await this.tokens.current());
    if (response.status !== 401) return this.read<T>(response);
    return this.read<T>(await this.send(method, path, body, await this.tokens.ask("expired")));
  }

  private send(method: string, path: string, body: unknown, token: string): Promise<Response> {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (body !== undefined) headers["content-type"] = "application/json";
    return this.fetch(new URL(path, this.baseUrl), {
      method,
      headers,
      signal: AbortSignal.timeout(this.timeoutMs),
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  }

  private async read<T>(response: Response): Promise<T> {
    const text = await response.text();
    if (response.ok) return (text ? JSON.parse(text) : null) as T;
    let data: unknown = null;
    try {
      data = JSON.parse(text);
    } catch {
      // not the API's JSON (a proxy's error page): the status says enough
    }
    const { code, message } = (data ?? {}) as { code?: unknown; message?: unknown };
    throw new ApiError(
      response.status,
      typeof code === "string" ? code : `http_${response.status}`,
      typeof message === "string" ? message : response.statusText,
    );
  }
}
