// The inbox as a client of the external contract: REST for state, @livedesk/client (served
// from /static/client, built from clients/js) for changes. It loads state over REST, then
// resumes the socket from the offset that state was read at; the client keeps every event
// once, reconnects, and shares one socket among the tabs of a login.
import { connect as connectClient } from "/static/client/index.js";

const S = { token: null, me: null, offset: 0, convs: new Map(), agents: new Map(), presence: {},
            current: null, client: null, typers: new Map(), typingTimers: new Map() };
// Typists repeat "start" every 3 s; presence's TTL is about 6 s. Past this, an indicator is stale.
// The server says in `ready` how often to repeat a typing start (half its TTL); an indicator
// not refreshed for two of those is stale, should its stop be lost.
let typingIntervalMs = 3000;
const $ = (id) => document.getElementById(id);

async function api(method, path, body, headers = {}, retried = false) {
  const response = await fetch(path, {
    method, headers: { "content-type": "application/json", ...(S.token ? { authorization: `Bearer ${S.token}` } : {}), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body) });
  // An access token lives 15 minutes: past it, one refresh and the request again.
  if (response.status === 401 && S.token && !retried && await refresh()) return api(method, path, body, headers, true);
  const data = response.status === 204 ? null : await response.json();
  if (!response.ok) throw Object.assign(new Error(data?.message || response.statusText), { status: response.status, data });
  return data;
}

function claims(token) { return JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))); }

// Sessions: the access token lives in this page's memory only; the refresh token is an
// HttpOnly cookie scoped to /v1/auth that no script can read. A reload asks for a new access
// token with it, so the agent stays signed in; logout ends the session and clears it.
function signedIn(token) {
  S.token = token;
  const c = claims(token);
  S.me = { id: Number(c.sub), account: c.acct, role: c.role };
}

async function refresh() {
  const response = await fetch("/v1/auth/refresh", { method: "POST" });
  if (!response.ok) return false;
  signedIn((await response.json()).access_token);
  return true;
}

async function start() {
  $("login").hidden = true; $("app").hidden = false; $("logout").hidden = false;
  await loadState();
  connect();
}

$("login").onsubmit = async (event) => {
  event.preventDefault();
  try {
    signedIn((await api("POST", "/v1/auth/token", { email: $("email").value, password: $("password").value })).access_token);
    await start();
  } catch (error) { $("error").textContent = error.message; }
};

$("logout").onclick = async () => {
  S.loggingOut = true;
  await fetch("/v1/auth/logout", { method: "POST" });
  location.reload();
};

refresh().then((ok) => ok && start()).catch((error) => { $("error").textContent = error.message; });

async function loadState() {
  const status = $("filter").value;
  const page = await api("GET", `/v1/conversations?limit=100${status ? `&status=${status}` : ""}`);
  S.convs = new Map(page.items.map((c) => [c.id, c]));
  S.offset = page.offset;
  const agents = await api("GET", "/v1/agents");
  const list = agents.items || agents;
  S.agents = new Map(list.map((a) => [a.id, a]));
  const me = S.agents.get(S.me.id);
  $("me").textContent = me ? `${me.name} (${S.me.role})` : "";
  renderConvs(); renderAgents();
  if (S.current) await openConversation(S.current);
}

function connect() {
  // The client asks for a token on connect, ahead of expiry and after the server said it
  // expired: the first is the one held, the others come from the refresh cookie. A refresh
  // refused (logged out, disabled, revoked) means signing in again.
  const token = async (reason) => {
    if (reason !== "connect" && !(await refresh())) location.reload();
    return S.token;
  };
  S.client = connectClient({ url: location.origin, token, resumeFrom: S.offset });
  S.client.on("state", (event) => {
    setStatus(event.state === "open");
    if (event.state === "closed") location.reload();
  });
  S.client.on("*", (frame) => handle(frame));
}

function setStatus(live) { $("status").textContent = live ? "live" : "reconnecting"; $("status").className = live ? "live" : ""; }

function handle(frame) {
  switch (frame.type) {
    case "ready":
      if (frame.typing_interval_s) typingIntervalMs = frame.typing_interval_s * 1000;
      break;
    case "resync_required": loadState(); break;
    case "new_conversation": S.convs.set(frame.data.id, { ...frame.data, unread_count: 0 }); renderConvs(); break;
    case "conversation_updated": {
      const old = S.convs.get(frame.conversation_id) || {};
      S.convs.set(frame.conversation_id, { ...old, ...frame.data.conversation }); renderConvs();
      if (S.current === frame.conversation_id) renderConvHeader();
      break;
    }
    case "new_message": {
      const conv = S.convs.get(frame.conversation_id);
      if (conv) { conv.last_activity_at = frame.data.created_at; if (S.current !== frame.conversation_id && frame.data.sender_id !== S.me.id) conv.unread_count = (conv.unread_count || 0) + 1; }
      if (S.current === frame.conversation_id) { appendMessage(frame.data); markRead(frame.data.id); }
      renderConvs();
      break;
    }
    case "typing": {
      const set = S.typers.get(frame.conversation_id) || new Set();
      frame.state === "start" && frame.user_id !== S.me.id ? set.add(frame.user_id) : set.delete(frame.user_id);
      S.typers.set(frame.conversation_id, set); renderTyping();
      // Typing is at-most-once: if a stop is ever lost (say, presence fails over), the
      // indicator still goes when the typist's repeated starts stop coming.
      const key = `${frame.conversation_id}:${frame.user_id}`;
      clearTimeout(S.typingTimers.get(key));
      if (frame.state === "start") S.typingTimers.set(key, setTimeout(() => { set.delete(frame.user_id); renderTyping(); }, 2 * typingIntervalMs + 1000));
      break;
    }
    case "subscribed": S.typers.set(frame.conversation_id, new Set((frame.typing || []).filter((u) => u !== S.me.id))); renderTyping(); break;
    case "presence_state": S.presence = { ...frame.agents }; renderAgents(); break;
    case "agent_status": S.presence[frame.user_id] = frame.status; renderAgents(); break;
    case "error": console.warn("livedesk error", frame); break;
  }
}

function renderConvs() {
  const box = $("convs"); box.innerHTML = "";
  const sorted = [...S.convs.values()].sort((a, b) => (b.last_activity_at || "").localeCompare(a.last_activity_at || ""));
  for (const c of sorted) {
    const div = document.createElement("div");
    div.className = "conv" + (c.id === S.current ? " active" : "");
    const assignee = c.assignee_id ? (S.agents.get(c.assignee_id)?.name || `#${c.assignee_id}`) : "unassigned";
    div.innerHTML = `<span class="badge" ${c.unread_count ? "" : "hidden"}>${c.unread_count}</span><strong>Conversation #${c.id}</strong><br><small>${c.status} · ${escapeHtml(assignee)}</small>`;
    div.onclick = () => openConversation(c.id);
    box.appendChild(div);
  }
}

function renderAgents() {
  const box = $("agents"); box.innerHTML = "";
  for (const a of S.agents.values()) {
    const status = S.presence[a.id] || "offline";
    box.insertAdjacentHTML("beforeend", `<div class="agent"><span><span class="dot ${status}"></span>${escapeHtml(a.name)}</span><small>${status}</small></div>`);
  }
}

function renderTyping() {
  const names = [...(S.typers.get(S.current) || [])].map((u) => S.agents.get(u)?.name || `#${u}`);
  $("typing").textContent = names.length ? `${names.join(", ")} typing…` : "";
}

function renderConvHeader() {
  const c = S.convs.get(S.current);
  $("conv-title").textContent = `Conversation #${c.id}`;
  $("conv-meta").textContent = ` ${c.status} · v${c.version}`;
  $("toggle-status").textContent = c.status === "resolved" ? "Reopen" : "Resolve";
}

async function openConversation(id) {
  if (S.current && S.current !== id) S.client.unsubscribe(S.current);
  S.current = id;
  $("conv-tools").hidden = false; $("compose").hidden = false;
  S.client.subscribe(id);
  renderConvHeader(); renderConvs(); renderTyping();
  const page = await api("GET", `/v1/conversations/${id}/messages?limit=100`);
  $("messages").innerHTML = "";
  const items = page.items.slice().sort((a, b) => a.id - b.id);
  items.forEach(appendMessage);
  if (items.length) markRead(items[items.length - 1].id);
  const c = S.convs.get(id); if (c) { c.unread_count = 0; renderConvs(); }
}

function appendMessage(m) {
  if (document.querySelector(`[data-id="${m.id}"]`)) return;
  const who = m.sender_type === "contact" ? "customer" : (S.agents.get(m.sender_id)?.name || "agent");
  $("messages").insertAdjacentHTML("beforeend", `<div class="msg ${m.kind}" data-id="${m.id}"><div class="meta">${escapeHtml(who)}${m.kind === "note" ? " · private note" : ""}</div>${escapeHtml(m.content)}</div>`);
  $("messages").scrollTop = $("messages").scrollHeight;
}

async function markRead(messageId) { try { await api("POST", `/v1/conversations/${S.current}/read`, { message_id: messageId }); } catch (_) { /* best effort */ } }

$("compose").onsubmit = async (event) => {
  event.preventDefault();
  const content = $("text").value.trim(); if (!content) return;
  $("text").value = "";
  S.client.typing.stop(S.current);
  // client_id makes a retried send return the first message instead of a second one.
  const message = await api("POST", `/v1/conversations/${S.current}/messages`, { content, kind: $("kind").value, client_id: crypto.randomUUID() });
  appendMessage(message);
};

$("text").oninput = () => S.client.typing.input(S.current);

async function patchConversation(change) {
  const c = S.convs.get(S.current);
  try { S.convs.set(c.id, await api("PATCH", `/v1/conversations/${c.id}`, { ...change, version: c.version })); }
  catch (error) { if (error.status === 409) { alert("Someone changed this conversation first; reloading."); await loadState(); } else throw error; }
  renderConvs(); renderConvHeader();
}
$("assign").onclick = () => patchConversation({ assignee_id: S.me.id });
$("toggle-status").onclick = () => patchConversation({ status: S.convs.get(S.current).status === "resolved" ? "open" : "resolved" });
$("customer-says").onclick = async () => {
  const content = prompt("The customer writes:"); if (!content) return;
  await api("POST", `/v1/conversations/${S.current}/messages:import`, { content, kind: "incoming", client_id: crypto.randomUUID() });
};
$("new-conv").onclick = async () => {
  const inboxes = await api("GET", "/v1/inboxes");
  const inbox = (inboxes.items || inboxes)[0];
  const contact = await api("POST", "/v1/contacts", { name: `Customer ${Math.floor(Math.random() * 1000)}` });
  const conv = await api("POST", "/v1/conversations", { inbox_id: inbox.id, contact_id: contact.id });
  await api("POST", `/v1/conversations/${conv.id}/messages:import`, { content: "Hello, I need some help with my order.", kind: "incoming", client_id: crypto.randomUUID() });
};
$("filter").onchange = loadState;
$("availability").onchange = () => api("PATCH", `/v1/agents/${S.me.id}`, { availability: $("availability").value });

function escapeHtml(text) { return String(text).replace(/[&<>"']/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[ch])); }
