// The conversation list: one row per conversation, newest activity first, moved in place
// when an event changes one (never rebuilt whole, so a live event costs one row), loaded a
// page at a time as the agent scrolls, and replaced by search results while a query is typed.
import { byActivity } from "./state.js";
import { capitalize, el, fullTime, hueClass, initials, relativeTime } from "./format.js";

const PAGE_SIZE = 40;
const ASSIGNEE_PARAM = { mine: "&assignee=me", unassigned: "&assignee=none", all: "" };

export class ConversationList {
  constructor({ state, api, contacts, onOpen, onError }) {
    this.state = state;
    this.api = api;
    this.contacts = contacts; // fetches contacts the list items do not carry
    this.onOpen = onOpen;
    this.onError = onError;
    this.box = document.getElementById("convs");
    this.empty = document.getElementById("list-empty");
    this.more = document.getElementById("list-more");
    this.ids = []; // shown, in order
    this.rows = new Map(); // id -> li
    this.snippets = new Map(); // search: id -> snippet
    this.nextCursor = null;
    this.loading = false;
    this.query = "";
    this.generation = 0; // a reload or a new query makes older answers stale
    this.openId = null;
    new IntersectionObserver((entries) => {
      if (entries.some((entry) => entry.isIntersecting)) this.loadMore();
    }, { root: this.box.parentElement }).observe(this.more);
    this.box.addEventListener("click", (event) => {
      const row = event.target.closest("[data-conversation-id]");
      if (row) this.onOpen(Number(row.dataset.conversationId));
    });
    this.box.addEventListener("keydown", (event) => {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        this.move(event.key === "ArrowDown" ? 1 : -1);
      } else if (event.key === "Enter" || event.key === " ") {
        const row = event.target.closest("[data-conversation-id]");
        if (row) {
          event.preventDefault();
          this.onOpen(Number(row.dataset.conversationId));
        }
      }
    });
  }

  get searching() {
    return this.query !== "";
  }

  /** The first page under the current filter or query; its `offset` (list mode only). */
  async reload() {
    const generation = ++this.generation;
    this.ids = [];
    this.rows.clear();
    this.snippets.clear();
    this.box.replaceChildren();
    this.nextCursor = null;
    this.setLoading(true);
    try {
      const page = await this.fetchPage(null);
      if (generation !== this.generation) return null;
      this.take(page);
      return page.offset ?? null;
    } finally {
      if (generation === this.generation) this.setLoading(false);
    }
  }

  async loadMore() {
    if (this.loading || !this.nextCursor) return;
    const generation = this.generation;
    this.setLoading(true);
    try {
      const page = await this.fetchPage(this.nextCursor);
      if (generation === this.generation) this.take(page);
    } catch (error) {
      this.onError(error);
    } finally {
      if (generation === this.generation) this.setLoading(false);
    }
  }

  async fetchPage(cursor) {
    const after = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
    if (this.searching) {
      const page = await this.api.optional(`/v1/search?q=${encodeURIComponent(this.query)}&limit=${PAGE_SIZE}${after}`);
      if (page === null) return { items: [], next_cursor: null, unavailable: true };
      for (const hit of page.items) this.snippets.set(hit.conversation.id, hit.snippet);
      return { ...page, items: page.items.map((hit) => hit.conversation) };
    }
    const { assignee, status } = this.state.filter;
    return this.api.get(`/v1/conversations?limit=${PAGE_SIZE}${status ? `&status=${status}` : ""}${ASSIGNEE_PARAM[assignee] ?? ""}${after}`);
  }

  take(page) {
    this.nextCursor = page.next_cursor || null;
    for (const item of page.items) {
      const conversation = this.state.upsert(item);
      if (!this.rows.has(conversation.id)) {
        this.ids.push(conversation.id);
        const row = this.row(conversation);
        this.box.append(row);
      }
    }
    this.contacts.need(page.items.filter((item) => !item.contact).map((item) => item.contact_id));
    this.showEmpty(page.unavailable);
    this.syncFocusable();
  }

  setLoading(loading) {
    this.loading = loading;
    this.more.hidden = !loading && !this.nextCursor;
    this.more.textContent = loading ? "Loading conversations…" : "";
    this.box.setAttribute("aria-busy", String(loading));
  }

  showEmpty(unavailable = false) {
    const none = this.ids.length === 0 && !this.loading;
    this.empty.hidden = !none;
    if (!none) return;
    if (unavailable) this.empty.textContent = "Search is not available on this server yet.";
    else if (this.searching) this.empty.textContent = `Nothing matches “${this.query}”.`;
    else this.empty.textContent = "No conversations here. New ones appear as customers write in.";
  }

  /**
   * A conversation changed (or is new): show, move or drop its row. In list mode a row that
   * sorts past the last loaded one waits for its page; search results are only updated.
   */
  apply(conversation) {
    const shown = this.rows.has(conversation.id);
    if (this.searching) {
      if (shown) this.fill(this.rows.get(conversation.id), conversation);
      return;
    }
    if (!this.state.matches(conversation)) {
      if (shown) this.remove(conversation.id);
      return;
    }
    if (shown) this.ids.splice(this.ids.indexOf(conversation.id), 1);
    let index = this.ids.findIndex((id) => byActivity(conversation, this.state.conversations.get(id)) < 0);
    if (index === -1) {
      if (this.nextCursor) {
        if (shown) this.remove(conversation.id, false);
        return;
      }
      index = this.ids.length;
    }
    const row = shown ? this.fill(this.rows.get(conversation.id), conversation) : this.row(conversation);
    this.ids.splice(index, 0, conversation.id);
    const before = this.rows.get(this.ids[index + 1]) || null;
    if (row.nextSibling !== before || row.parentNode !== this.box) {
      const focused = document.activeElement === row;
      this.box.insertBefore(row, before);
      if (focused) row.focus();
    }
    this.showEmpty();
    this.syncFocusable();
  }

  remove(id, fromIds = true) {
    const row = this.rows.get(id);
    if (fromIds && this.ids.includes(id)) this.ids.splice(this.ids.indexOf(id), 1);
    row?.remove();
    this.rows.delete(id);
    this.showEmpty();
    this.syncFocusable();
  }

  row(conversation) {
    const row = el("li", { class: "conv", role: "option", tabindex: "-1", "data-conversation-id": conversation.id });
    this.rows.set(conversation.id, row);
    return this.fill(row, conversation);
  }

  fill(row, conversation) {
    const state = this.state;
    const name = state.contactName(conversation);
    const last = conversation.last_message;
    const snippet = this.snippets.get(conversation.id);
    // null: no message yet; undefined: a server whose list carries no preview.
    let preview = snippet || last?.preview || (last === null ? "No messages yet" : "");
    if (!snippet && last) {
      if (last.kind === "note") preview = `Note: ${preview}`;
      else if (last.sender_type === "agent") preview = `${last.sender_id === state.me.id ? "You" : state.agents.get(last.sender_id)?.name?.split(" ")[0] || "Agent"}: ${preview}`;
    }
    const unread = conversation.unread_count || 0;
    const when = last?.created_at || conversation.last_activity_at;
    const assigned = conversation.assignee_id !== null && conversation.assignee_id !== undefined;
    row.classList.toggle("unread", unread > 0);
    row.classList.toggle("active", conversation.id === this.openId);
    row.setAttribute("aria-selected", String(conversation.id === this.openId));
    row.replaceChildren(
      el("span", { class: `avatar ${hueClass(conversation.contact_id)}`, "aria-hidden": "true", text: initials(name) }),
      el("span", { class: "conv-body" },
        el("span", { class: "conv-top" },
          el("span", { class: "conv-name", text: name }),
          el("time", { class: "conv-time", datetime: when, title: fullTime(when), text: relativeTime(when) })),
        el("span", { class: `conv-preview${last?.kind === "note" && !snippet ? " note" : ""}`, text: preview }),
        el("span", { class: "conv-bottom" },
          el("span", { class: `conv-assignee${assigned ? "" : " none"}`, text: state.agentName(conversation.assignee_id) }),
          this.searching || state.filter.status === "" ? el("span", { class: `chip ${conversation.status}`, text: capitalize(conversation.status) }) : null,
          el("span", { class: "badge", "data-unread": unread, hidden: unread === 0 },
            String(unread), el("span", { class: "visually-hidden", text: " unread" })))),
    );
    return row;
  }

  /** The agent opened this conversation: mark its row. */
  select(id) {
    this.openId = id;
    for (const [rowId, row] of this.rows) {
      row.classList.toggle("active", rowId === id);
      row.setAttribute("aria-selected", String(rowId === id));
    }
    this.syncFocusable();
  }

  /** One row in the tab order (the open one, else the first): the list is one tab stop. */
  syncFocusable() {
    const focusable = this.rows.get(this.openId) || this.rows.get(this.ids[0]);
    for (const row of this.rows.values()) row.tabIndex = row === focusable ? 0 : -1;
  }

  /** j/k and the arrows: focus the next or previous row (loading more at the end). */
  move(step) {
    if (this.ids.length === 0) return;
    const current = document.activeElement?.closest?.("[data-conversation-id]");
    let index = current ? this.ids.indexOf(Number(current.dataset.conversationId)) : this.ids.indexOf(this.openId);
    index = index === -1 ? 0 : Math.min(this.ids.length - 1, Math.max(0, index + step));
    const row = this.rows.get(this.ids[index]);
    for (const other of this.rows.values()) other.tabIndex = other === row ? 0 : -1;
    row.focus();
    row.scrollIntoView({ block: "nearest" });
    if (index >= this.ids.length - 3) this.loadMore();
  }

  focusedId() {
    const current = document.activeElement?.closest?.("[data-conversation-id]");
    return current ? Number(current.dataset.conversationId) : null;
  }

  /** Relative times move on while the page is open. */
  tick() {
    const now = Date.now();
    for (const time of this.box.querySelectorAll("time.conv-time")) time.textContent = relativeTime(time.getAttribute("datetime"), now);
  }

  /** A contact's details arrived: rename its rows. */
  refreshContact(contactId) {
    for (const id of this.ids) {
      const conversation = this.state.conversations.get(id);
      if (conversation?.contact_id === contactId) this.fill(this.rows.get(id), conversation);
    }
  }
}
