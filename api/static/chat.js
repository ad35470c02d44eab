// The chat page: the caller's conversations (GET /conversations, unread badges), a conversation's
// history by place (GET /conversations/{id}/messages), everyone's read marks for ticks, and the
// push stream's typed events (message, membership, receipt, typing, edit, delete; EventSource
// reconnects with Last-Event-ID by itself). Sends with POST /messages; groups, edits, deletes and
// typing with their routes.
"use strict";

const $ = (id) => document.getElementById(id);
const enc = encodeURIComponent;
const state = {
  me: null,
  token: "",
  events: null,
  conversations: [],
  current: null, // the open conversation's id
  group: null, // its group, if it is one
  order: [], // its messages' ids, oldest first
  seqs: new Map(), // messageId -> place
  marks: new Map(), // member -> read up to place
  members: [],
  editing: null, // the id of the message being edited
  typedAt: 0,
  typingTimer: null,
  drawnInbox: "", // what the conversation list and member list show, to redraw only on change
  drawnMembers: "",
};

function tokenUser(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part)).sub || null;
  } catch (e) {
    return null;
  }
}

function status(text) {
  $("status").textContent = text;
}

async function problem(response) {
  try {
    const p = await response.json();
    return p.detail || p.title || response.statusText;
  } catch (e) {
    return response.statusText;
  }
}

// A call to the API as the signed-in user: the token, or (AUTH_MODE=none) the `user` parameter.
async function api(method, path, body, asUser = true) {
  const headers = { "Content-Type": "application/json" };
  if (state.token) headers.Authorization = "Bearer " + state.token;
  else if (asUser) path += (path.includes("?") ? "&" : "?") + "user=" + enc(state.me);
  const init = { method, headers };
  if (body !== undefined) init.body = JSON.stringify(body);
  return fetch(path, init);
}

function conversationOf(m) {
  return m.conversationId || [m.fromUser, m.toUser].sort().join(":");
}

function peerOf(id) {
  const [a, b] = id.split(":");
  return a === state.me ? b : a;
}

async function signIn() {
  if (state.events) return true;
  state.token = $("token").value.trim();
  state.me = $("user").value.trim() || tokenUser(state.token);
  if (!state.me) {
    status("a token (or a user) is needed");
    return false;
  }
  // A refused token is said at once, rather than as a stream that keeps reconnecting.
  const check = await api("GET", "/conversations?limit=1");
  if (check.status === 401 || check.status === 403) {
    status("sign-in refused: " + (await problem(check)));
    state.me = null;
    return false;
  }
  const query = new URLSearchParams();
  if (state.token) query.set("access_token", state.token);
  else query.set("user", state.me);
  const events = new EventSource("/messages/stream?" + query);
  events.addEventListener("ready", () => {
    status(state.me + ": live");
    refreshInbox();
  });
  const on = (kind, handle) => events.addEventListener(kind, (e) => handle(JSON.parse(e.data)));
  on("message", onItem);
  on("membership", onItem);
  on("receipt", onReceipt);
  on("typing", onTyping);
  on("edit", (c) => onChange(c, false));
  on("delete", (c) => onChange(c, true));
  on("end", (e) => status("reconnecting (" + e.reason + ")"));
  events.onerror = () => status("reconnecting…");
  state.events = events;
  // Unread counts follow the store, which the stream runs ahead of.
  setInterval(refreshInbox, 2000);
  return true;
}

async function refreshInbox() {
  const response = await api("GET", "/conversations?limit=50");
  if (!response.ok) return;
  const conversations = await response.json();
  // Redrawn only when it changed, so what the user is about to click stays put.
  const drawn = JSON.stringify([state.current, conversations]);
  state.conversations = conversations;
  if (drawn !== state.drawnInbox) drawInbox(drawn);
  else markCurrent();
  // A group's members as the store has them (a change is pushed before it is applied).
  if (state.group) loadMembers();
}

// The open conversation is read as far as it shows: say so once the store has it.
function markCurrent() {
  const c = state.conversations.find((c) => c.conversationId === state.current);
  if (c && c.unreadCount > 0 && c.lastMessage) markRead(c.lastMessage.messageId);
}

function drawInbox(drawn) {
  state.drawnInbox = drawn;
  const list = $("conversations");
  list.replaceChildren();
  for (const c of state.conversations) {
    const li = document.createElement("li");
    li.dataset.id = c.conversationId;
    if (c.conversationId === state.current) li.className = "current";
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = c.title || c.peer || c.members.join(", ");
    const last = document.createElement("span");
    last.className = "last";
    const m = c.lastMessage;
    last.textContent = m ? m.fromUser + ": " + (m.content || "(deleted)") : "";
    li.append(name);
    if (c.unreadCount > 0) {
      const badge = document.createElement("span");
      badge.className = "badge";
      badge.textContent = c.unreadCount;
      li.append(badge);
    }
    li.append(last);
    li.addEventListener("click", () => openConversation(c.conversationId));
    list.append(li);
  }
  markCurrent();
}

async function markRead(messageId) {
  await api("POST", "/conversations/" + enc(state.current) + "/read", { messageId });
}

function text(m) {
  if (m.deleted) return "(deleted)";
  return m.content + (m.edited ? " (edited)" : "");
}

function show(m, seq) {
  const known = document.querySelector('#log li[data-id="' + m.messageId + '"]');
  if (known) return;
  const last = state.order.length ? state.seqs.get(state.order[state.order.length - 1]) : 0;
  state.seqs.set(m.messageId, seq || (last || 0) + 1);
  state.order.push(m.messageId);
  const li = document.createElement("li");
  li.dataset.id = m.messageId;
  if (m.membership) li.className = "event";
  else if (m.fromUser === state.me) li.className = "mine";
  if (m.deleted) li.classList.add("deleted");
  const who = document.createElement("span");
  who.className = "who";
  who.textContent = m.fromUser + " · " + new Date(m.timestamp).toLocaleTimeString();
  const body = document.createElement("span");
  body.className = "text";
  body.textContent = text(m);
  li.append(who, body);
  if (li.className === "mine" && !m.deleted) {
    const tick = document.createElement("span");
    tick.className = "tick";
    const edit = document.createElement("button");
    edit.className = "edit";
    edit.type = "button";
    edit.textContent = "edit";
    edit.addEventListener("click", () => startEdit(m.messageId, m.content));
    const del = document.createElement("button");
    del.className = "delete";
    del.type = "button";
    del.textContent = "delete";
    del.addEventListener("click", () => api("DELETE", "/messages/" + m.messageId));
    li.append(tick, edit, del);
  }
  $("log").append(li);
  $("log").scrollTop = $("log").scrollHeight;
}

// ✓ sent, ✓✓ seen by every other member (by their read marks, in places).
function renderTicks() {
  const others = state.members.filter((u) => u !== state.me);
  for (const li of document.querySelectorAll("#log li.mine")) {
    const tick = li.querySelector(".tick");
    if (!tick) continue;
    const seq = state.seqs.get(li.dataset.id);
    const seen = others.filter((u) => (state.marks.get(u) || 0) >= seq).length;
    tick.textContent = others.length && seen === others.length ? "✓✓ seen by all" : seen ? "✓ seen by " + seen : "✓";
  }
}

function onItem(m) {
  if (conversationOf(m) === state.current) {
    show(m);
    if (m.membership) loadMembers();
    if (m.fromUser !== state.me) $("typing").textContent = "";
    renderTicks();
  }
  refreshInbox();
}

function onReceipt(r) {
  if (r.conversationId !== state.current) return;
  // The receipt names the message: its place here is what the reader has read up to.
  const seq = state.seqs.get(r.messageId) || r.readSeq;
  state.marks.set(r.user, Math.max(state.marks.get(r.user) || 0, seq));
  renderTicks();
}

function onTyping(t) {
  if (t.conversationId !== state.current || t.user === state.me) return;
  $("typing").textContent = t.user + " is typing…";
  clearTimeout(state.typingTimer);
  const left = Math.min(5000, Math.max(1000, t.expiresAt - Date.now()));
  state.typingTimer = setTimeout(() => ($("typing").textContent = ""), left);
}

function onChange(c, deleted) {
  const li = document.querySelector('#log li[data-id="' + c.messageId + '"]');
  if (li) {
    li.querySelector(".text").textContent = deleted ? "(deleted)" : c.content + " (edited)";
    if (deleted) {
      li.classList.add("deleted");
      li.querySelectorAll("button").forEach((b) => b.remove());
    }
  }
  refreshInbox();
}

async function loadMembers() {
  const response = await api("GET", "/conversations/" + enc(state.current));
  if (!response.ok) return;
  const info = await response.json();
  const drawn = JSON.stringify([state.current, info]);
  if (drawn === state.drawnMembers) return;
  state.drawnMembers = drawn;
  state.members = info.members;
  state.group = info.group || null;
  const gone = info.readableUntil !== undefined;
  $("title").textContent = state.group ? state.group.title || "Group" : peerOf(state.current);
  $("members").textContent = (gone ? "you left or were removed · " : "") + "members: " + info.members.join(", ");
  $("group-controls").classList.toggle("hidden", !state.group || gone);
  $("compose").classList.toggle("hidden", gone);
  const list = $("member-list");
  list.replaceChildren();
  if (!state.group) return;
  for (const user of info.members) {
    const li = document.createElement("li");
    li.textContent = user;
    if (state.group.owner === state.me && user !== state.me) {
      const remove = document.createElement("button");
      remove.className = "remove";
      remove.type = "button";
      remove.dataset.user = user;
      remove.textContent = "remove";
      remove.addEventListener("click", () =>
        api("DELETE", "/conversations/" + enc(state.current) + "/members/" + enc(user)),
      );
      li.append(remove);
    }
    list.append(li);
  }
}

async function loadMarks() {
  const response = await api("GET", "/conversations/" + enc(state.current) + "/reads");
  if (!response.ok) return;
  for (const mark of await response.json()) state.marks.set(mark.user, mark.readSeq);
}

async function openConversation(id) {
  if (!(await signIn())) return;
  state.current = id;
  state.order = [];
  state.seqs.clear();
  state.marks.clear();
  state.members = [];
  $("log").replaceChildren();
  $("typing").textContent = "";
  cancelEdit();
  // The newest page: places run 1 to the count, so the page's first message is at after + 1.
  const known = state.conversations.find((c) => c.conversationId === id);
  const after = Math.max(0, (known ? known.messageCount : 0) - 100);
  const path = "/conversations/" + enc(id) + "/messages?limit=100" + (after ? "&after=" + after : "");
  const page = await api("GET", path);
  if (!page.ok) {
    status("cannot read the conversation: " + (await problem(page)));
    return;
  }
  (await page.json()).forEach((m, i) => show(m, after + 1 + i));
  await loadMembers();
  await loadMarks();
  renderTicks();
  refreshInbox();
}

function startEdit(id, content) {
  state.editing = id;
  $("content").value = content;
  $("send").textContent = "Save";
  $("cancel-edit").classList.remove("hidden");
}

function cancelEdit() {
  state.editing = null;
  $("send").textContent = "Send";
  $("cancel-edit").classList.add("hidden");
}

async function send(e) {
  e.preventDefault();
  const content = $("content").value;
  if (!state.current || !content) return;
  // Taken now: what is typed while this one is on its way is the next message, not this one.
  const editing = state.editing;
  cancelEdit();
  $("content").value = "";
  let response;
  if (editing) {
    response = await api("PATCH", "/messages/" + editing, { content });
  } else {
    const body = { content };
    if (state.current.includes(":")) body.toUser = peerOf(state.current);
    else body.conversationId = state.current;
    if (!state.token) body.fromUser = state.me;
    const headers = { "Content-Type": "application/json" };
    if (state.token) headers.Authorization = "Bearer " + state.token;
    // A retried click is stored once; randomUUID exists in secure contexts (https, localhost).
    if (crypto.randomUUID) headers["Idempotency-Key"] = crypto.randomUUID();
    response = await fetch("/messages", { method: "POST", headers, body: JSON.stringify(body) });
  }
  if (!response.ok) {
    status("not sent: " + (await problem(response)));
    if (!$("content").value) $("content").value = content;
  }
}

function typing() {
  const now = Date.now();
  if (!state.current || state.editing || now - state.typedAt < 2500) return;
  state.typedAt = now;
  api("POST", "/conversations/" + enc(state.current) + "/typing");
}

async function createGroup() {
  if (!(await signIn())) return;
  const members = $("group-members").value.split(",").map((u) => u.trim()).filter((u) => u);
  const body = { members };
  const title = $("group-title").value.trim();
  if (title) body.title = title;
  const response = await api("POST", "/conversations", body);
  if (!response.ok) {
    status("no group: " + (await problem(response)));
    return;
  }
  const made = await response.json();
  await refreshInbox();
  openConversation(made.change.conversationId);
}

async function addMember() {
  const user = $("member-name").value.trim();
  if (!user) return;
  const response = await api("POST", "/conversations/" + enc(state.current) + "/members", { users: [user] });
  if (response.ok) $("member-name").value = "";
  else status("not added: " + (await problem(response)));
}

$("signin").addEventListener("click", signIn);
$("open").addEventListener("click", async () => {
  if (!(await signIn())) return;
  const peer = $("peer").value.trim();
  if (peer) openConversation([state.me, peer].sort().join(":"));
});
$("create-group").addEventListener("click", createGroup);
$("add-member").addEventListener("click", addMember);
$("leave").addEventListener("click", () =>
  api("DELETE", "/conversations/" + enc(state.current) + "/members/" + enc(state.me)),
);
$("cancel-edit").addEventListener("click", () => {
  cancelEdit();
  $("content").value = "";
});
$("compose").addEventListener("submit", send);
$("content").addEventListener("input", typing);
