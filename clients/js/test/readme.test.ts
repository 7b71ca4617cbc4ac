/** The README's example runs as written, against a real standalone, through the package's name. */

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";

import { DEMO_PASSWORD, Standalone } from "./support/standalone.js";

const PACKAGE = resolve(import.meta.dirname, "../..");
let server: Standalone;

before(async () => {
  server = await Standalone.start();
});
after(async () => {
  await server.dispose();
});

test("the README's example connects, sends a message and exits", async () => {
  const readme = readFileSync(resolve(PACKAGE, "README.md"), "utf8");
  const example = /```js\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(example, "a js block in the README");
  assert.ok(example.split("\n").filter(Boolean).length <= 10, "ten lines at most");
  // Inside the package, "@livedesk/client" resolves to the package itself (its exports).
  const script = resolve(PACKAGE, "build/readme-example.mjs");
  const runnable = example.replace("http://127.0.0.1:8000", server.url).replace("the-password-it-printed", DEMO_PASSWORD);
  assert.ok(runnable.includes(DEMO_PASSWORD), "the README's example names the printed password");
  writeFileSync(script, runnable);
  const { stdout } = await promisify(execFile)(process.execPath, [script], { timeout: 20_000 });
  assert.match(stdout, /state: open/);
  assert.match(stdout, /sent: \d+/);
});
