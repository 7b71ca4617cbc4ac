// What an agent does to a conversation: assign (a menu of the team) or unassign, mark
// pending, snooze until a time, resolve and reopen. Each sends the target state with the
// version the agent saw, never a toggle; when someone else changed it first (409) the agent
// is told who did what, and the conversation shows its new state.
import { ApiError } from "./api.js";
import { el, fullTime, localInputValue } from "./format.js";

const STATUS_WORDS = { open: "reopened it", resolved: "resolved it", pending: "marked it pending", snoozed: "snoozed it" };

export class Actions {
  constructor({ state, api, onChanged, onError }) {
    this.state = state;
    this.api = api;
    this.onChanged = onChanged; // (conversation) => void
    this.onError = onError;
    this.conversationId = null;
    this.$ = (id) => document.getElementById(id);
    this.conflict = this.$("conflict");
    this.menu = this.$("assign-menu");
    this.assignButton = this.$("assign");
    this.snoozeDialog = this.$("snooze-dialog");
    this.$("resolve").addEventListener("click", () => this.setStatus("resolved"));
    this.$("reopen").addEventListener("click", () => this.setStatus("open"));
    this.$("pending").addEventListener("click", () => this.setStatus("pending"));
    this.$("snooze").addEventListener("click", () => this.openSnooze());
    this.assignButton.addEventListener("click", () => (this.menu.hidden ? this.openMenu() : this.closeMenu(true)));
    this.menu.addEventListener("keydown", (event) => this.menuKey(event));
    this.menu.addEventListener("click", (event) => {
      const item = event.target.closest("[role=menuitemradio]");
      if (!item) return;
      this.closeMenu(true);
      const assignee = item.dataset.agent === "" ? null : Number(item.dataset.agent);
      this.patch({ assignee_id: assignee });
    });
    document.addEventListener("pointerdown", (event) => {
      if (!this.menu.hidden && !event.target.closest(".menu-wrap")) this.closeMenu(false);
    });
    this.snoozeDialog.addEventListener("click", (event) => {
      const preset = event.target.closest("button[data-hours], button[data-preset]");
      if (preset) this.snoozeUntil(presetTime(preset.dataset));
    });
    this.$("snooze-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const value = this.$("snooze-custom").value;
      if (!value) return;
      const until = new Date(value);
      if (until.getTime() <= Date.now()) {
        this.$("snooze-error").textContent = "Pick a time in the future.";
        return;
      }
      this.snoozeUntil(until);
    });
    this.$("snooze-cancel").addEventListener("click", () => this.snoozeDialog.close());
  }

  show(conversationId) {
    if (conversationId !== this.conversationId) this.conflict.hidden = true;
    this.conversationId = conversationId;
    this.render();
  }

  current() {
    return this.state.conversations.get(this.conversationId);
  }

  /** The header: who, the state, and the buttons that apply to it. */
  render() {
    const conversation = this.current();
    if (!conversation) return;
    const status = conversation.status;
    this.$("conv-title").textContent = this.state.contactName(conversation);
    const meta = [`#${conversation.id}`, statusLabel(conversation), this.state.agentName(conversation.assignee_id) === "Unassigned" ? "Unassigned" : `Assigned to ${this.state.agentName(conversation.assignee_id)}`];
    this.$("conv-meta").replaceChildren(...meta.map((text, index) => el("span", { class: index === 1 ? `chip ${status}` : "", text })));
    this.$("resolve").hidden = status === "resolved";
    this.$("reopen").hidden = status === "open" || status === "pending";
    this.$("pending").hidden = status === "pending";
    this.$("snooze").hidden = false;
  }

  setStatus(status) {
    return this.patch({ status });
  }

  async patch(change) {
    const conversation = this.current();
    if (!conversation) return;
    this.conflict.hidden = true;
    try {
      const updated = await this.api.patch(`/v1/conversations/${conversation.id}`, { ...change, version: conversation.version });
      this.onChanged(updated);
    } catch (error) {
      if (error instanceof ApiError && error.status === 409) await this.conflicted(conversation.id, error.body || {});
      else this.onError(error);
    }
  }

  /** Someone changed it first: say who and what, and show the state it has now. */
  async conflicted(conversationId, body) {
    const now = body.conversation || (await this.api.get(`/v1/conversations/${conversationId}`).catch(() => null));
    if (now) this.onChanged(now);
    const who = body.changed_by ? (body.changed_by.id === this.state.me.id ? "You (in another tab)" : body.changed_by.name) : body.changed_by === null ? "Livedesk" : "Someone";
    const changed = body.changed || [];
    const what = [];
    if (now && (changed.includes("status") || changed.includes("snoozed_until"))) what.push(STATUS_WORDS[now.status] || `set it to ${now.status}`);
    if (now && changed.includes("assignee_id")) what.push(now.assignee_id === null ? "unassigned it" : `assigned it to ${this.state.agentName(now.assignee_id)}`);
    const did = what.length ? what.join(" and ") : "changed it";
    const state = now ? ` It is now ${statusLabel(now).toLowerCase()}, ${now.assignee_id === null ? "unassigned" : `assigned to ${this.state.agentName(now.assignee_id)}`}.` : "";
    this.conflict.textContent = `${who} ${did} first, so your change was not made.${state}`;
    this.conflict.hidden = false;
  }

  openMenu() {
    const conversation = this.current();
    if (!conversation) return;
    const agents = [...this.state.agents.values()].filter((agent) => !agent.disabled).sort((a, b) => (a.id === this.state.me.id ? -1 : b.id === this.state.me.id ? 1 : a.name.localeCompare(b.name)));
    const item = (label, value, checked, presence) =>
      el("li", { role: "none" }, el("button", { type: "button", role: "menuitemradio", "aria-checked": String(checked), tabindex: "-1", "data-agent": value },
        presence ? el("span", { class: `dot ${presence}`, "aria-hidden": "true" }) : null, label));
    this.menu.replaceChildren(
      ...agents.map((agent) => item(agent.id === this.state.me.id ? `${agent.name} (me)` : agent.name, agent.id, conversation.assignee_id === agent.id, this.state.presence.get(agent.id) || "offline")),
      item("Unassign", "", conversation.assignee_id === null, null),
    );
    this.menu.hidden = false;
    this.assignButton.setAttribute("aria-expanded", "true");
    (this.menu.querySelector("[aria-checked=true]") || this.menu.querySelector("button")).focus();
  }

  closeMenu(refocus) {
    this.menu.hidden = true;
    this.assignButton.setAttribute("aria-expanded", "false");
    if (refocus) this.assignButton.focus();
  }

  menuKey(event) {
    const items = [...this.menu.querySelectorAll("button")];
    const index = items.indexOf(document.activeElement);
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const step = event.key === "ArrowDown" ? 1 : -1;
      items[(index + step + items.length) % items.length].focus();
    } else if (event.key === "Home" || event.key === "End") {
      event.preventDefault();
      items[event.key === "Home" ? 0 : items.length - 1].focus();
    } else if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      this.closeMenu(true);
    } else if (event.key === "Tab") {
      this.closeMenu(false);
    }
  }

  openSnooze() {
    if (!this.current()) return;
    const tomorrow = presetTime({ preset: "tomorrow" });
    this.$("snooze-custom").value = localInputValue(tomorrow);
    this.$("snooze-custom").min = localInputValue(new Date());
    this.$("snooze-error").textContent = "";
    this.snoozeDialog.showModal();
  }

  async snoozeUntil(until) {
    this.snoozeDialog.close();
    await this.patch({ status: "snoozed", snoozed_until: until.toISOString() });
  }
}

function statusLabel(conversation) {
  if (conversation.status === "snoozed" && conversation.snoozed_until) return `Snoozed until ${fullTime(conversation.snoozed_until)}`;
  return { open: "Open", pending: "Pending", snoozed: "Snoozed", resolved: "Resolved" }[conversation.status] || conversation.status;
}

/** The time a snooze preset means, from now. */
function presetTime({ hours, preset }) {
  const now = new Date();
  if (hours) return new Date(now.getTime() + Number(hours) * 3_600_000);
  const at = new Date(now.getFullYear(), now.getMonth(), now.getDate(), 9, 0);
  if (preset === "tomorrow") at.setDate(at.getDate() + 1);
  if (preset === "monday") at.setDate(at.getDate() + (((8 - at.getDay()) % 7) || 7));
  return at;
}
