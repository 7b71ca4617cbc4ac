// The inbox page: signs the agent in (or resumes the session), loads the list over REST,
// then follows the account's events from the offset that list was read at, through
// @livedesk/client (built from clients/js into /static/client). This module wires the views
// together and applies each live event; each view is a module of its own.
import { connect } from "/static/client/index.js";
import { Actions } from "./actions.js";
import { Api } from "./api.js";
import { Awareness } from "./awareness.js";
import { Composer } from "./composer.js";
import { Contacts } from "./contact.js";
import { installDemo } from "./demo.js";
import { installControls, linkedConversation } from "./controls.js";
import { Filters } from "./filters.js";
import { ConversationList } from "./list.js";
import { Notifier } from "./notify.js";
import { Prefs } from "./prefs.js";
import { Session } from "./session.js";
import { State } from "./state.js";
import { Thread } from "./thread.js";

const $ = (id) => document.getElementById(id);
const session = new Session();
const api = new Api(session);
const config = fetch("/inbox/config").then((response) => (response.ok ? response.json() : {}), () => ({}));

$("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  const button = $("login").querySelector("button");
  button.disabled = true;
  $("error").textContent = "";
  try {
    await session.signIn($("email").value, $("password").value);
    await start();
  } catch (error) {
    $("error").textContent = error.message;
  } finally {
    button.disabled = false;
  }
});

config.then((settings) => {
  $("demo-hint").hidden = !settings.demo;
});

session.refresh().then((ok) => {
  if (ok) return start();
  showLogin();
}).catch((error) => {
  showLogin();
  $("error").textContent = error.message;
});

function showLogin() {
  $("login-view").hidden = false;
  $("app").hidden = true;
  $("email").focus();
}

async function start() {
  $("login-view").hidden = true;
  $("app").hidden = false;
  const inbox = new Inbox(session.me);
  await inbox.start();
}

/** One signed-in agent's inbox: the state, the views, and the live events between them. */
class Inbox {
  constructor(me) {
    this.state = new State(me);
    this.prefs = new Prefs(me);
    this.state.filter = { assignee: this.prefs.get("assignee"), status: this.prefs.get("status") };
    this.openId = null;
    this.usable = false;
    this.pendingNewConversation = new Map(); // id -> timeout: a notification a message may replace
    const onError = (error) => this.toast(error);
    this.contacts = new Contacts({
      state: this.state,
      api,
      onContact: (id) => {
        this.list.refreshContact(id);
        const open = this.state.conversations.get(this.openId);
        if (open?.contact_id === id) this.actions.render();
      },
      onOpen: (id) => this.open(id),
    });
    this.list = new ConversationList({ state: this.state, api, contacts: this.contacts, onOpen: (id) => this.open(id), onError });
    this.actions = new Actions({ state: this.state, api, onChanged: (conversation) => this.changed(conversation), onError });
    this.awareness = new Awareness({ state: this.state, api });
    this.notifier = new Notifier({ state: this.state, prefs: this.prefs, isLeader: () => this.client?.isLeader ?? true });
    this.filters = new Filters({ state: this.state, prefs: this.prefs, api, list: this.list, onError });
  }

  async start() {
    const [agents] = await Promise.all([api.get("/v1/agents"), this.filters.renderCounts()]);
    for (const agent of agents.items || agents) this.state.agents.set(agent.id, agent);
    const me = this.state.agents.get(this.state.me.id);
    $("me").textContent = me ? me.name : "";
    $("availability").value = me?.availability && me.availability !== "offline" ? me.availability : "online";
    this.awareness.renderTeam();
    this.filters.install();
    const offset = await this.list.reload();
    this.list.setLoading(false);
    this.contacts.clear();
    if (!this.usable) {
      this.usable = true;
      performance.mark("inbox:usable");
    }
    this.connect(offset ?? 0);
    installControls(this, session);
    const settings = await config;
    if (settings.demo) installDemo({ api, session, current: () => this.openId, onError: (error) => this.toast(error) });
    const linked = linkedConversation();
    if (linked !== null) this.open(linked);
    setInterval(() => this.list.tick(), 30_000);
    this.notifier.title();
  }

  connect(offset) {
    // Asked for on connect, ahead of expiry and after the server said it expired: the first
    // is the one held, the others come from the refresh cookie. A refusal ends the session.
    const token = async (reason) => {
      if (reason !== "connect" && !(await session.refresh())) session.ended();
      return session.token;
    };
    this.client = connect({ url: location.origin, token, resumeFrom: offset });
    this.thread = new Thread({ state: this.state, api, client: this.client, onError: (error) => this.toast(error) });
    this.composer = new Composer({
      client: this.client,
      onSent: (message) => this.newMessage(message), // the page's own, written: as its event
      onError: (error) => this.toast(error),
    });
    const online = () => navigator.onLine !== false && this.client.state === "open";
    this.client.on("state", (event) => {
      this.awareness.connectionState(event);
      this.thread.setOutgoing(this.client.pending, online());
      if (event.state === "closed") location.reload(); // the session ended: sign in again
    });
    this.client.on("outbox", (event) => {
      this.thread.setOutgoing(event.items, online());
      this.awareness.setWaiting(event.items.length);
    });
    const networkChanged = () => {
      this.awareness.renderBanner();
      this.thread.setOutgoing(this.client.pending, online());
      // Back online with the socket still up: send what waits now, not after the back-off.
      if (navigator.onLine) for (const item of this.client.pending) if (item.status === "pending") this.client.retry(item.clientId).catch(() => undefined);
    };
    window.addEventListener("online", networkChanged);
    window.addEventListener("offline", networkChanged);
    this.client.on("*", (frame) => {
      if (frame.type === "state" || frame.type === "outbox" || frame.type === "sent" || frame.type === "pong") return;
      performance.mark("inbox:apply-start");
      try {
        this.apply(frame);
      } finally {
        performance.mark("inbox:apply-end");
        performance.measure("inbox:apply", "inbox:apply-start", "inbox:apply-end");
        // The measures are what tests and the bench read; the marks would only pile up.
        performance.clearMarks("inbox:apply-start");
        performance.clearMarks("inbox:apply-end");
      }
    });
  }

  apply(frame) {
    switch (frame.type) {
      case "ready":
        if (frame.typing_interval_s) this.awareness.typingIntervalMs = frame.typing_interval_s * 1000;
        break;
      case "resync_required":
        this.resync();
        break;
      case "new_conversation":
        this.newConversation(frame.data);
        break;
      case "conversation_updated":
        this.changed(frame.data.conversation);
        break;
      case "new_message":
        this.newMessage(frame.data);
        break;
      case "message_read":
        this.messageRead(frame.conversation_id, frame.data.user_id, frame.data.message_id);
        break;
      case "typing":
        this.awareness.typing(frame);
        break;
      case "subscribed":
        if (frame.conversation_id === this.openId) this.awareness.typingNow(frame.conversation_id, frame.typing || []);
        break;
      case "presence_state":
        this.awareness.presenceState(frame.agents);
        break;
      case "agent_status":
        this.awareness.agentStatus(frame.user_id, frame.status);
        break;
      case "error":
        console.warn("livedesk:", frame.code, frame.message);
        break;
    }
  }

  /** A conversation's new state (an event, or a PATCH's answer): everywhere it shows. */
  changed(data) {
    const known = this.state.conversations.get(data.id);
    // Events can arrive after a PATCH's answer that already included them.
    if (known && known.version > data.version) return;
    const conversation = this.state.upsert(data);
    if (!conversation.contact) this.contacts.need([conversation.contact_id]);
    this.list.apply(conversation);
    if (conversation.id === this.openId) this.actions.render();
    this.filters.schedule();
  }

  newConversation(data) {
    const conversation = this.state.upsert({ unread_count: 0, last_message: null, ...data });
    this.list.apply(conversation);
    this.filters.schedule();
    // The list event carries no contact: ask for the whole conversation.
    api.get(`/v1/conversations/${data.id}`).then((full) => this.changed(full), () => this.contacts.need([data.contact_id]));
    // A customer's first message usually follows at once: then it is the one notified.
    this.pendingNewConversation.set(data.id, setTimeout(() => {
      this.pendingNewConversation.delete(data.id);
      this.notifier.newConversation(this.state.conversations.get(data.id));
    }, 1500));
  }

  newMessage(message) {
    const id = message.conversation_id;
    clearTimeout(this.pendingNewConversation.get(id));
    this.pendingNewConversation.delete(id);
    const known = this.state.conversations.get(id);
    const watching = id === this.openId && !document.hidden;
    if (known) {
      const later = (known.last_activity_at || "") < message.created_at ? message.created_at : known.last_activity_at;
      const newer = !known.last_message || known.last_message.id <= message.id;
      const conversation = this.state.upsert({
        id,
        last_activity_at: later,
        last_message: newer ? summary(message) : known.last_message,
        unread_count: (known.unread_count || 0) + (this.state.isFromOthers(message) && !watching ? 1 : 0),
      });
      this.list.apply(conversation);
    } else {
      api.get(`/v1/conversations/${id}`).then((full) => this.changed(full), () => undefined);
    }
    if (id === this.openId) {
      this.thread?.add(message);
      if (watching && this.state.isFromOthers(message)) this.markRead(id, message.id);
    }
    if (message.sender_type === "agent") this.awareness.stoppedBySending(id, message.sender_id);
    if (!watching && this.state.conversations.has(id)) this.notifier.message(message, this.state.conversations.get(id));
    this.notifier.title();
  }

  messageRead(conversationId, userId, messageId) {
    this.state.setRead(conversationId, userId, messageId);
    this.thread?.readChanged(conversationId);
    const conversation = this.state.conversations.get(conversationId);
    if (userId !== this.state.me.id || !conversation) return;
    // Read in another tab or window: the unread count follows.
    if (!conversation.last_message || messageId >= conversation.last_message.id) {
      this.list.apply(this.state.upsert({ id: conversationId, unread_count: 0 }));
    } else {
      api.get(`/v1/conversations/${conversationId}`).then((full) => {
        this.list.apply(this.state.upsert({ id: conversationId, unread_count: full.unread_count }));
        this.notifier.title();
      }, () => undefined);
    }
    this.notifier.title();
  }

  async markRead(conversationId, messageId) {
    if (!messageId) return;
    try {
      const read = await api.post(`/v1/conversations/${conversationId}/read`, { message_id: messageId });
      this.list.apply(this.state.upsert({ id: conversationId, unread_count: read.unread_count }));
      this.notifier.title();
    } catch {
      // best effort: the next read carries it
    }
  }

  async open(id) {
    if (this.openId !== null && this.openId !== id) this.client.unsubscribe(this.openId);
    this.openId = id;
    if (location.hash !== `#conversation/${id}`) history.replaceState(null, "", `#conversation/${id}`);
    this.list.select(id);
    $("thread-empty").hidden = true;
    $("thread-view").hidden = false;
    $("panes").dataset.view = "thread";
    if (!this.state.conversations.has(id)) {
      try {
        this.changed(await api.get(`/v1/conversations/${id}`));
      } catch (error) {
        this.toast(error);
        return;
      }
    }
    const conversation = this.state.conversations.get(id);
    this.actions.show(id);
    this.composer.open(id);
    this.awareness.setOpen(id);
    this.client.subscribe(id);
    this.contacts.show(conversation).catch(() => undefined);
    try {
      await this.thread.open(id);
    } catch (error) {
      this.toast(error);
      return;
    }
    if (this.openId !== id) return;
    this.thread.setOutgoing(this.client.pending, navigator.onLine !== false && this.client.state === "open");
    if (!document.hidden) await this.markRead(id, this.thread.newestId());
  }

  async resync() {
    const offset = await this.list.reload();
    if (offset === null) return;
    this.filters.schedule();
    if (this.openId !== null) this.open(this.openId);
  }

  toast(error) {
    const box = $("toast");
    box.textContent = error?.message || String(error);
    box.hidden = false;
    clearTimeout(this.toastTimer);
    this.toastTimer = setTimeout(() => {
      box.hidden = true;
    }, 6000);
  }
}

/** The list's preview of a message, as the API's `last_message` has it. */
function summary(message) {
  return {
    id: message.id,
    kind: message.kind,
    sender_type: message.sender_type,
    sender_id: message.sender_id,
    preview: message.content.replace(/\s+/g, " ").trim().slice(0, 140),
    created_at: message.created_at,
  };
}
