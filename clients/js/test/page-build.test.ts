/**
 * The inbox page of `livedesk standalone` loads this client from a copy committed under
 * services/api/src/livedesk/api/inbox/static/client, so that a machine with only Python serves it. That
 * copy must be what the source compiles to now.
 */

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { test } from "node:test";

const PACKAGE = resolve(import.meta.dirname, "../..");
const COMMITTED = resolve(PACKAGE, "../../services/api/src/livedesk/api/inbox/static/client");
const STALE = "the page's copy of the client is stale: run `npm run build:page` in clients/js and commit it";

function contents(directory: string): Map<string, string> {
  return new Map(readdirSync(directory).sort().map((name) => [name, readFileSync(join(directory, name), "utf8")]));
}

test("the page's committed copy of the client is a fresh build of the source", () => {
  const fresh = mkdtempSync(join(tmpdir(), "livedesk-page-"));
  try {
    const tsc = resolve(PACKAGE, "node_modules/typescript/bin/tsc");
    execFileSync(process.execPath, [tsc, "-p", "tsconfig.page.json", "--outDir", fresh], { cwd: PACKAGE });
    const built = contents(fresh);
    const committed = contents(COMMITTED);
    assert.deepEqual([...committed.keys()], [...built.keys()], STALE);
    for (const [name, text] of built) assert.equal(committed.get(name), text, `${name}: ${STALE}`);
  } finally {
    rmSync(fresh, { recursive: true, force: true });
  }
});
