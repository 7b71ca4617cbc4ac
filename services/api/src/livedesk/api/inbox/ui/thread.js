// The open conversation's messages: the newest page first, older pages as the agent scrolls
// up, grouped by day, private notes set apart, the agent's own unsent messages at the end with
// their state (sending, waiting, failed with Retry), and "Seen by" from the read pointers.
import { clockTime, dayKey, dayLabel, el, fullTime } from "./format.js";

const PAGE_SIZE = 50;
const NEAR_BOTTOM_PX = 120;

export class Thread {
  constructor({ state, api, client, onError }) {
    this.state = state;
    this.api = api;
    this.client = client;
    this.onError = onError;
    this.box = document.getElementById("messages");
    this.conversationId = null;
    this.messages = new Map(); // id -> message
    this.olderCursor = null;
    this.loadingOlder = false;
    this.outgoing = []; // the outbox's items of this conversation
    this.box.addEventListener("scroll", () => {
      if (this.box.scrollTop < NEAR_BOTTOM_PX) this.loadOlder();
    });
    this.box.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-retry], button[data-discard]");
      if (!button) return;
      if (button.dataset.retry) this.client.retry(button.dataset.retry).catch(() => undefined);
      else this.client.discard(button.dataset.discard);
    });
  }

  async open(conversationId) {
    this.conversationId = conversationId;
    this.messages.clear();
    this.olderCursor = null;
    this.box.replaceChildren(el("p", { class: "loading", text: "Loading messages…" }));
    this.box.setAttribute("aria-busy", "true");
    const [page, reads] = await Promise.all([
      this.api.get(`/v1/conversations/${conversationId}/messages?order=desc&limit=${PAGE_SIZE}`),
      this.api.optional(`/v1/conversations/${conversationId}/reads`).catch(() => null),
    ]);
    if (this.conversationId !== conversationId) return;
    for (const read of reads?.items || []) this.state.setRead(conversationId, read.user_id, read.message_id);
    this.take(page);
    this.box.setAttribute("aria-busy", "false");
    this.render();
    this.box.scrollTop = this.box.scrollHeight;
  }

  close() {
    this.conversationId = null;
    this.messages.clear();
    this.box.replaceChildren();
  }

  take(page) {
    for (const message of page.items) this.messages.set(message.id, message);
    // A server that ignores order=desc answers oldest first: then there is nothing older.
    const descending = page.items.length < 2 || page.items[0].id > page.items[page.items.length - 1].id;
    this.olderCursor = descending ? page.next_cursor || null : null;
  }

  async loadOlder() {
    if (this.loadingOlder || !this.olderCursor || this.conversationId === null) return;
    const conversationId = this.conversationId;
    this.loadingOlder = true;
    try {
      const page = await this.api.get(`/v1/conversations/${conversationId}/messages?order=desc&limit=${PAGE_SIZE}&cursor=${encodeURIComponent(this.olderCursor)}`);
      if (this.conversationId !== conversationId) return;
      const fromBottom = this.box.scrollHeight - this.box.scrollTop;
      this.take(page);
      this.render();
      this.box.scrollTop = this.box.scrollHeight - fromBottom; // keep what the agent was reading in place
    } catch (error) {
      this.onError(error);
    } finally {
      this.loadingOlder = false;
    }
  }

  /** A message written (live or by this page): shown once, at its place. */
  add(message) {
    if (message.conversation_id !== this.conversationId || this.messages.has(message.id)) return;
    const stick = this.nearBottom() || !this.state.isFromOthers(message);
    this.messages.set(message.id, message);
    const sorted = this.sorted();
    const newest = sorted[sorted.length - 1];
    const list = this.box.querySelector(".msgs");
    if (newest.id === message.id && sorted.length > 1 && list) {
      const previous = sorted[sorted.length - 2];
      if (!previous || dayKey(previous.created_at) !== dayKey(message.created_at)) list.append(this.day(message.created_at));
      list.append(this.bubble(message));
      this.renderTail();
    } else {
      this.render();
    }
    if (stick) this.box.scrollTop = this.box.scrollHeight;
  }

  /** The outbox changed: show this conversation's unsent messages. */
  setOutgoing(items, online) {
    this.outgoing = items;
    this.online = online;
    if (this.conversationId !== null) {
      const stick = this.nearBottom();
      this.renderTail();
      if (stick) this.box.scrollTop = this.box.scrollHeight;
    }
  }

  /** Someone's read pointer moved (already in the state): "Seen by" may change. */
  readChanged(conversationId) {
    if (conversationId === this.conversationId) this.renderTail();
  }

  nearBottom() {
    return this.box.scrollHeight - this.box.scrollTop - this.box.clientHeight < NEAR_BOTTOM_PX;
  }

  sorted() {
    return [...this.messages.values()].sort((a, b) => a.id - b.id);
  }

  newestId() {
    let newest = 0;
    for (const id of this.messages.keys()) newest = Math.max(newest, id);
    return newest;
  }

  render() {
    const list = el("div", { class: "msgs" });
    let day = null;
    for (const message of this.sorted()) {
      const key = dayKey(message.created_at);
      if (key !== day) list.append(this.day(message.created_at));
      day = key;
      list.append(this.bubble(message));
    }
    const parts = [];
    if (this.olderCursor) parts.push(el("p", { class: "loading older", text: "Scroll up for older messages" }));
    else if (this.messages.size === 0) parts.push(el("p", { class: "empty", text: "No messages yet." }));
    parts.push(list, el("div", { class: "tail" }));
    this.box.replaceChildren(...parts);
    this.renderTail();
  }

  day(iso) {
    return el("div", { class: "day", role: "separator", "aria-label": dayLabel(iso) }, el("span", { text: dayLabel(iso) }));
  }

  bubble(message) {
    const conversation = this.state.conversations.get(message.conversation_id);
    const mine = message.sender_type === "agent";
    const who = this.state.senderName(message, conversation);
    return el("article", { class: `msg ${message.kind} ${mine ? "from-agent" : "from-contact"}`, "data-message-id": message.id },
      el("header", { class: "msg-head" },
        el("span", { class: "msg-who", text: who }),
        message.kind === "note" ? el("span", { class: "note-tag", text: "Private note" }) : null,
        el("time", { datetime: message.created_at, title: fullTime(message.created_at), text: clockTime(message.created_at) })),
      el("div", { class: "msg-text", text: message.content }));
  }

  /** What follows the last message: the agent's unsent ones, then "Seen by". */
  renderTail() {
    const tail = this.box.querySelector(".tail");
    if (!tail) return;
    const parts = [];
    // The message's event can come before the POST's answer: then it is written, not unsent.
    const written = new Set([...this.messages.values()].map((message) => message.client_id).filter(Boolean));
    for (const item of this.outgoing) {
      if (item.conversationId !== this.conversationId || written.has(item.clientId)) continue;
      let status;
      if (item.status === "failed") {
        status = el("span", { class: "send-state failed" }, "Not sent. ",
          el("button", { type: "button", class: "link", "data-retry": item.clientId, text: "Retry" }), " ",
          el("button", { type: "button", class: "link", "data-discard": item.clientId, text: "Discard" }));
      } else {
        status = el("span", { class: "send-state", text: item.status === "sending" ? "Sending…" : this.online ? "Sending…" : "Waiting for connection" });
      }
      parts.push(el("article", { class: `msg ${item.kind} from-agent unsent ${item.status}`, "data-client-id": item.clientId },
        el("header", { class: "msg-head" }, el("span", { class: "msg-who", text: "You" }), item.kind === "note" ? el("span", { class: "note-tag", text: "Private note" }) : null),
        el("div", { class: "msg-text", text: item.content }), status));
    }
    const newest = this.newestId();
    const mineLast = newest && this.messages.get(newest)?.sender_type === "agent";
    if (newest) {
      const seers = [...(this.state.reads.get(this.conversationId) || new Map())]
        .filter(([userId, messageId]) => userId !== this.state.me.id && messageId >= newest)
        .map(([userId]) => this.state.agents.get(userId)?.name || `Agent #${userId}`);
      if (seers.length) parts.push(el("p", { class: "seen", text: `Seen by ${seers.join(", ")}` }));
      else if (mineLast && parts.length === 0) parts.push(el("p", { class: "seen", text: "Sent" }));
    }
    tail.replaceChildren(...parts);
  }
}
