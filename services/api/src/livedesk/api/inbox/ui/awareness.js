// Who else is here and whether the page is live: "X is typing…" (which always ends: a lost
// stop is covered by a timer), the team's presence dots and the agent's own status, and the
// connection banner (reconnecting in N s, offline, N messages waiting).
import { el, plural } from "./format.js";

export class Awareness {
  constructor({ state, api }) {
    this.state = state;
    this.api = api;
    this.typers = new Map(); // conversation id -> Set(user id)
    this.timers = new Map(); // "conversation:user" -> timeout
    this.typingIntervalMs = 3000;
    this.openId = null;
    this.connection = { state: "connecting" };
    this.waiting = 0;
    this.countdown = null;
    this.banner = document.getElementById("banner");
    this.status = document.getElementById("status");
    this.own = document.getElementById("availability");
    this.own.addEventListener("change", () => this.setOwn(this.own.value));
  }

  // -- typing -------------------------------------------------------------------------------

  typing(frame) {
    if (frame.user_id === this.state.me.id) return;
    const set = this.typers.get(frame.conversation_id) || new Set();
    this.typers.set(frame.conversation_id, set);
    const key = `${frame.conversation_id}:${frame.user_id}`;
    clearTimeout(this.timers.get(key));
    this.timers.delete(key);
    if (frame.state === "start") {
      set.add(frame.user_id);
      // Typists repeat "start" every interval; two missed ones mean the stop was lost.
      this.timers.set(key, setTimeout(() => {
        set.delete(frame.user_id);
        this.renderTyping();
      }, 2 * this.typingIntervalMs + 1000));
    } else {
      set.delete(frame.user_id);
    }
    this.renderTyping();
  }

  /** The server's list of typists on subscribing (and a message from one ends their typing). */
  typingNow(conversationId, userIds) {
    this.typers.set(conversationId, new Set(userIds.filter((id) => id !== this.state.me.id)));
    this.renderTyping();
  }

  stoppedBySending(conversationId, userId) {
    const set = this.typers.get(conversationId);
    if (set?.delete(userId)) this.renderTyping();
  }

  setOpen(conversationId) {
    this.openId = conversationId;
    this.renderTyping();
  }

  renderTyping() {
    const names = [...(this.typers.get(this.openId) || [])].map((id) => this.state.agents.get(id)?.name || `Agent #${id}`);
    const box = document.getElementById("typing");
    box.textContent = names.length === 0 ? "" : names.length === 1 ? `${names[0]} is typing…` : `${names.join(" and ")} are typing…`;
  }

  // -- presence -----------------------------------------------------------------------------

  presenceState(agents) {
    this.state.presence.clear();
    for (const [id, status] of Object.entries(agents)) this.state.presence.set(Number(id), status);
    this.renderTeam();
  }

  agentStatus(userId, status) {
    this.state.presence.set(userId, status);
    this.renderTeam();
  }

  async setOwn(status) {
    try {
      await this.api.patch(`/v1/agents/${this.state.me.id}`, { availability: status });
    } catch {
      this.own.value = this.state.presence.get(this.state.me.id) || "online";
    }
  }

  renderTeam() {
    const list = document.getElementById("agents");
    const agents = [...this.state.agents.values()].filter((agent) => !agent.disabled).sort((a, b) => a.name.localeCompare(b.name));
    list.replaceChildren(...agents.map((agent) => {
      const status = this.state.presence.get(agent.id) || "offline";
      return el("li", { class: "agent" },
        el("span", { class: `dot ${status}`, "aria-hidden": "true" }),
        el("span", { class: "agent-name", text: agent.id === this.state.me.id ? `${agent.name} (me)` : agent.name }),
        el("span", { class: "agent-status", text: status }));
    }));
    const mine = this.state.presence.get(this.state.me.id);
    if (mine && mine !== "offline" && document.activeElement !== this.own) this.own.value = mine;
  }

  // -- connection ---------------------------------------------------------------------------

  connectionState(event) {
    this.connection = event;
    clearInterval(this.countdown);
    this.countdown = null;
    if (event.state === "reconnecting" && event.delayMs) {
      const until = Date.now() + event.delayMs;
      this.countdown = setInterval(() => this.renderBanner(until), 1000);
      this.renderBanner(until);
    } else {
      this.renderBanner();
    }
  }

  setWaiting(count) {
    this.waiting = count;
    this.renderBanner();
  }

  renderBanner(until) {
    // The browser may know it is offline before the socket does (an idle socket can look open).
    const state = navigator.onLine === false && this.connection.state !== "closed" ? "offline" : this.connection.state;
    this.status.textContent = state === "open" ? "live" : state === "offline" ? "offline" : "connecting";
    this.status.className = `conn ${state}`;
    let text = "";
    if (state === "reconnecting") {
      const seconds = until ? Math.max(0, Math.ceil((until - Date.now()) / 1000)) : 0;
      text = seconds > 0 ? `Connection lost. Reconnecting in ${seconds} s…` : "Connection lost. Reconnecting…";
    } else if (state === "offline") text = "You are offline. Changes will be sent when the connection is back.";
    else if (state === "connecting" && this.connection.seen) text = "Connecting…";
    if (this.waiting > 0) text = `${text} ${plural(this.waiting, "message")} waiting to be sent.`.trim();
    this.banner.textContent = text;
    this.banner.classList.toggle("shown", text !== "");
    if (state === "open") this.connection.seen = true;
  }
}
