"use strict";
// The inbox as a client of the external contract: REST for state, one socket for changes.
// It loads state over REST, then resumes the socket from the offset that state was read at,
// so nothing is missed and nothing applied twice; after a drop it resumes from the last offset.
const S = { token: null, me: null, offset: 0, convs: new Map(), agents: new Map(), presence: {},
            current: null, ws: null, retry: 0, typingSentAt: 0, typers: new Map(), typingTimers: new Map() };
// Typists repeat "start" every 3 s; presence's TTL is about 6 s. Past this, an indicator is stale.
// The server says in `ready` how often to repeat a typing start (half its TTL); an indicator
// not refreshed for two of those is stale, should its stop be lost.
let typingIntervalMs = 3000;
const $ = (id) => document.getElementById(id);

async function api(method, path, body, headers = {}) {
  const response = await fetch(path, {
    method, headers: { "content-type": "application/json", ...(S.token ? { authorization: `Bearer ${S.token}` } : {}), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body) });
  const data = response.status === 204 ? null : await response.json();
  if (!response.ok) throw Object.assign(new Error(data?.message || response.statusText), { status: response.status, data });
  return data;
}

function claims(token) { return JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))); }

$("login").onsubmit = async (event) => {
  event.preventDefault();
  try {
    const { access_token } = await api("POST", "/v1/auth/token", { email: $("email").value, password: $("password").value });
    S.token = access_token;
    const c = claims(access_token);
    S.me = { id: Number(c.sub), account: c.acct, role: c.role };
    $("login").hidden = true; $("app").hidden = false;
    await loadState();
    connect();
  } catch (error) { $("error").textContent = error.message; }
};

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
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
  S.ws = ws;
  ws.onopen = () => ws.send(JSON.stringify({ type: "auth", token: S.token, resume_from: S.offset }));
  ws.onmessage = (message) => handle(JSON.parse(message.data));
  ws.onclose = (event) => {
    setStatus(false);
    if (event.code === 4401) { location.reload(); return; }
    const delay = Math.min(10000, 300 * 2 ** S.retry++) * (0.5 + Math.random());
    setTimeout(connect, delay);
  };
}

function setStatus(live) { $("status").textContent = live ? "live" : "reconnecting"; $("status").className = live ? "live" : ""; }

function send(frame) { if (S.ws && S.ws.readyState === WebSocket.OPEN) S.ws.send(JSON.stringify(frame)); }

function handle(frame) {
  if ("offset" in frame && frame.type !== "ready" && frame.type !== "pong") {
    if (frame.offset <= S.offset) return;  // already applied (the gateway drops these too)
    S.offset = frame.offset;
  }
  switch (frame.type) {
    case "ready":
      S.retry = 0; setStatus(true);
      if (frame.typing_interval_s) typingIntervalMs = frame.typing_interval_s * 1000;
      if (S.current) send({ type: "subscribe", conversation_id: S.current });
      break;
    case "resync_required": loadState(); break;
    case "reconnect": S.ws.close(1000); break;
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
  if (S.current && S.current !== id) send({ type: "unsubscribe", conversation_id: S.current });
  S.current = id;
  $("conv-tools").hidden = false; $("compose").hidden = false;
  send({ type: "subscribe", conversation_id: id });
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
  send({ type: "typing", conversation_id: S.current, state: "stop" }); S.typingSentAt = 0;
  // client_id makes a retried send return the first message instead of a second one.
  const message = await api("POST", `/v1/conversations/${S.current}/messages`, { content, kind: $("kind").value, client_id: crypto.randomUUID() });
  appendMessage(message);
};

$("text").oninput = () => {
  // Repeat "start" while typing: presence ends an indicator that is not refreshed.
  if (Date.now() - S.typingSentAt > typingIntervalMs) { send({ type: "typing", conversation_id: S.current, state: "start" }); S.typingSentAt = Date.now(); }
};

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
  await api("POST", `/v1/conversations/${S.current}/messages`, { content, kind: "incoming", client_id: crypto.randomUUID() });
};
$("new-conv").onclick = async () => {
  const inboxes = await api("GET", "/v1/inboxes");
  const inbox = (inboxes.items || inboxes)[0];
  const contact = await api("POST", "/v1/contacts", { name: `Customer ${Math.floor(Math.random() * 1000)}` });
  const conv = await api("POST", "/v1/conversations", { inbox_id: inbox.id, contact_id: contact.id });
  await api("POST", `/v1/conversations/${conv.id}/messages`, { content: "Hello, I need some help with my order.", kind: "incoming", client_id: crypto.randomUUID() });
};
$("filter").onchange = loadState;
$("availability").onchange = () => api("PATCH", `/v1/agents/${S.me.id}`, { availability: $("availability").value });
setInterval(() => send({ type: "ping" }), 25000);

function escapeHtml(text) { return String(text).replace(/[&<>"']/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[ch])); }
