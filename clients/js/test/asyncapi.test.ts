/** docs/asyncapi.yaml, the protocol generated from the server's models, is a valid AsyncAPI
 * document: `@asyncapi/parser` finds nothing of error severity in it. */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { test } from "node:test";

import { Parser } from "@asyncapi/parser";

const DOCUMENT = resolve(import.meta.dirname, "../../../../docs/asyncapi.yaml");
// DiagnosticSeverity.Error of @stoplight/types, which the parser reports with.
const ERROR = 0;

test("docs/asyncapi.yaml parses with no error", async () => {
  const { document, diagnostics } = await new Parser().parse(readFileSync(DOCUMENT, "utf8"), { source: DOCUMENT });
  const errors = diagnostics.filter((diagnostic) => diagnostic.severity === ERROR);
  const shown = errors.map((error) => `${error.path.join(".")}: ${error.message}`);
  assert.deepEqual(shown, [], "error diagnostics");
  assert.ok(document, "a parsed document");
  assert.equal(document.version(), "3.0.0");
  assert.ok(document.channels().get("socket")?.messages().get("client.auth"), "the auth frame");
});
