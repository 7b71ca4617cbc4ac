/**
 * One real standalone for a test file, started before its tests, and the clients they connect,
 * all closed after them. A client talks through the `ws` package, logs in as alice and wakes
 * only when its test says so (`ManualSignals`), unless the test's options say otherwise.
 */

import { after, before } from "node:test";
import { WebSocket } from "ws";

import { type ClientOptions, connect, type LivedeskClient } from "../../src/client.js";
import { ManualSignals } from "./signals.js";
import { login, Standalone } from "./standalone.js";

export class LiveServer {
  private started: Standalone | undefined;
  private readonly clients: LivedeskClient[] = [];

  /** Registers the file's `before` and `after` hooks; `env`: extra LIVEDESK_* settings. */
  constructor(env: Record<string, string> = {}) {
    before(async () => {
      this.started = await Standalone.start(env);
    });
    after(async () => {
      for (const client of this.clients) client.close();
      await this.started?.dispose();
    });
  }

  get server(): Standalone {
    if (this.started === undefined) throw new Error("the server starts in the file's before hook");
    return this.started;
  }

  client(options: Partial<ClientOptions> = {}): LivedeskClient {
    const url = this.server.url;
    const made = connect({ url, token: () => login(url), WebSocket, signals: new ManualSignals(), ...options });
    this.clients.push(made);
    return made;
  }
}
