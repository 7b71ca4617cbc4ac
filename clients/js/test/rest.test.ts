import assert from "node:assert/strict";
import { test } from "node:test";

import { systemClock } from "../src/clock.js";
import { ApiError, isTransient, RestClient } from "../src/rest.js";
import { TokenKeeper } from "../src/token.js";

function answering(...responses: Response[]): RestClient {
  const fetch = async (): Promise<Response> => responses.shift()!;
  return new RestClient("http://api.test", new TokenKeeper(() => "token", systemClock), fetch, 1_000);
}

test("an error page that is not JSON still gives an ApiError with its status, transient for a 502", async () => {
  const rest = answering(new Response("<html>Bad gateway</html>", { status: 502, statusText: "Bad Gateway" }));
  const error = await rest.request("GET", "/v1/x").catch((caught: unknown) => caught);
  assert.ok(error instanceof ApiError);
  assert.equal(error.code, "http_502");
  assert.equal(isTransient(error), true);
});

test("the API's error keeps its code and message; a 4xx will not pass by trying again", async () => {
  const body = JSON.stringify({ code: "not_found", message: "conversation 9 not found" });
  const rest = answering(new Response(body, { status: 404 }));
  const error = await rest.request("GET", "/v1/x").catch((caught: unknown) => caught);
  assert.ok(error instanceof ApiError);
  assert.deepEqual([error.code, error.message, isTransient(error)], ["not_found", "conversation 9 not found", false]);
});

test("a 401 asks for a fresh token and tries once more", async () => {
  const reasons: string[] = [];
  const tokens = new TokenKeeper((reason) => (reasons.push(reason), `token-${reasons.length}`), systemClock);
  const seen: string[] = [];
  const responses = [new Response("{}", { status: 401 }), new Response('{"ok":true}', { status: 200 })];
  const fetch = async (_url: URL | RequestInfo, init?: RequestInit): Promise<Response> => {
    seen.push(new Headers(init?.headers).get("authorization")!);
    return responses.shift()!;
  };
  const rest = new RestClient("http://api.test", tokens, fetch, 1_000);
  assert.deepEqual(await rest.request("GET", "/v1/x"), { ok: true });
  assert.deepEqual(seen, ["Bearer token-1", "Bearer token-2"]);
  assert.deepEqual(reasons, ["connect", "expired"]);
});
