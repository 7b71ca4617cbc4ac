/**
 * A real `livedesk standalone` for the tests: its own data dir and a free loopback port,
 * stopped with SIGTERM (which drains: `reconnect` then 1001), frozen with SIGSTOP and thawed
 * with SIGCONT, and started again on the same port and data.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

/** The worktree's environment, built by `python3 dev.py` (LIVEDESK_BIN overrides). */
const LIVEDESK = process.env["LIVEDESK_BIN"] ?? resolve(import.meta.dirname, "../../../../../.venv/bin/livedesk");
const START_TIMEOUT_MS = 20_000;

/** The demo logins' password: standalone makes a random one unless told (LIVEDESK_DEMO_PASSWORD). */
export const DEMO_PASSWORD = "the js tests' demo password";
export const ALICE = "alice@example.com";
export const ADMIN = "admin@example.com";

export class Standalone {
  private process: ChildProcess | undefined;

  private constructor(
    readonly port: number,
    readonly dataDir: string,
    private readonly env: Record<string, string>,
  ) {}

  /** `env`: extra LIVEDESK_* settings, such as a short token lifetime. */
  static async start(env: Record<string, string> = {}): Promise<Standalone> {
    const server = new Standalone(await freePort(), mkdtempSync(join(tmpdir(), "livedesk-js-")), env);
    await server.startAgain();
    return server;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async startAgain(): Promise<void> {
    const child = spawn(LIVEDESK, ["standalone", "--host", "127.0.0.1", "--port", String(this.port), "--data-dir", this.dataDir], {
      env: {
        ...process.env,
        // argon2 at its production cost takes most of a second per login.
        LIVEDESK_API__PASSWORD_TIME_COST: "1",
        LIVEDESK_API__PASSWORD_MEMORY_KIB: "8",
        LIVEDESK_DEMO_PASSWORD: DEMO_PASSWORD,
        ...this.env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.process = child;
    let output = "";
    await new Promise<void>((resolveStarted, reject) => {
      const timer = setTimeout(() => reject(new Error(`standalone did not start: ${output}`)), START_TIMEOUT_MS);
      const seen = (chunk: Buffer): void => {
        output += chunk.toString();
        if (output.includes("demo logins")) {
          clearTimeout(timer);
          resolveStarted();
        }
      };
      child.stdout?.on("data", seen);
      child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`standalone exited with ${code}: ${output}`));
      });
    });
  }

  /** SIGTERM: the server drains its sockets and exits; resolves once it has. */
  async stop(): Promise<void> {
    const child = this.process;
    this.process = undefined;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((done) => child.once("exit", done));
    child.kill("SIGCONT"); // a frozen server cannot drain
    child.kill("SIGTERM");
    await exited;
  }

  freeze(): void {
    this.process?.kill("SIGSTOP");
  }

  thaw(): void {
    this.process?.kill("SIGCONT");
  }

  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const address = server.address();
  await new Promise((done) => server.close(done));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

/** A fresh access token for a demo login. */
export async function login(baseUrl: string, email: string = ALICE): Promise<string> {
  const response = await fetch(`${baseUrl}/v1/auth/token`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email, password: DEMO_PASSWORD }),
  });
  if (!response.ok) throw new Error(`login failed: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { access_token: string }).access_token;
}

/** A REST call as `token`, for what the tests do beside the client. */
export async function api<T>(baseUrl: string, token: string, method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}
