/** `npm pack` makes a package that installs and imports on its own, with no runtime dependency. */

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";

const PACKAGE = resolve(import.meta.dirname, "../..");
const run = promisify(execFile);
const NPM = process.platform === "win32" ? "npm.cmd" : "npm";

test("npm pack gives a package that imports alone and depends on nothing", async () => {
  const scratch = mkdtempSync(join(tmpdir(), "livedesk-pack-"));
  try {
    const { stdout } = await run(NPM, ["pack", "--json", "--pack-destination", scratch], { cwd: PACKAGE, timeout: 120_000 });
    const [packed] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
    assert.ok(packed, "npm pack reports the tarball");
    const files = packed.files.map((file) => file.path);
    assert.ok(files.includes("dist/index.js") && files.includes("dist/index.d.ts"), files.join(", "));
    // Unpacked by hand where Node looks for it: no registry, no install step to hide behind.
    const installed = join(scratch, "app", "node_modules", "@livedesk", "client");
    mkdirSync(installed, { recursive: true });
    await run("tar", ["-xzf", join(scratch, packed.filename), "-C", installed, "--strip-components=1"]);
    const manifest = JSON.parse(readFileSync(join(installed, "package.json"), "utf8")) as Record<string, unknown>;
    assert.equal(manifest["dependencies"], undefined, "no runtime dependencies");
    const script = join(scratch, "app", "check.mjs");
    writeFileSync(script, 'const client = await import("@livedesk/client"); console.log(typeof client.connect);\n');
    const imported = await run(process.execPath, [script], { cwd: join(scratch, "app") });
    assert.equal(imported.stdout.trim(), "function");
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
});
