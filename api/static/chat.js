// The chat page: the conversation from GET /messages/{me}/{peer}, new messages from the push
// stream (EventSource reconnects with Last-Event-ID by itself), sends with POST /messages.
"use strict";

const $ = (id) => document.getElementById(id);
const shown = new Set();
let me = null;
let peer = null;
let events = null;

function tokenUser(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part)).sub || null;
  } catch (e) {
    return null;
  }
}

function headers() {
  const token = $("token").value.trim();
  const h = { "Content-Type": "application/json" };
  if (token) h.Authorization = "Bearer " + token;
  return h;
}

function status(text) {
  $("status").textContent = text;
}

function show(m) {
  if (shown.has(m.messageId)) return;
  shown.add(m.messageId);
  const li = document.createElement("li");
  li.dataset.id = m.messageId;
  if (m.fromUser === me) li.className = "mine";
  const who = document.createElement("span");
  who.className = "who";
  who.textContent = m.fromUser + " · " + new Date(m.timestamp).toLocaleTimeString();
  li.append(who, document.createTextNode(m.content));
  $("log").append(li);
  $("log").scrollTop = $("log").scrollHeight;
}

async function problem(response) {
  try {
    const p = await response.json();
    return p.detail || p.title || response.statusText;
  } catch (e) {
    return response.statusText;
  }
}

async function open() {
  const token = $("token").value.trim();
  me = $("user").value.trim() || tokenUser(token);
  peer = $("peer").value.trim();
  if (!me || !peer) {
    status("a token (or a user) and a peer are needed");
    return;
  }
  if (events) events.close();
  $("log").replaceChildren();
  shown.clear();
  // The stream first (it starts where the store stands), then the history: nothing sent in between
  // is missed, and ids dedupe.
  const query = new URLSearchParams({ with: peer });
  if (token) query.set("access_token", token);
  else query.set("user", me);
  events = new EventSource("/messages/stream?" + query);
  events.addEventListener("ready", () => status(me + " ↔ " + peer + ": live"));
  events.addEventListener("message", (e) => show(JSON.parse(e.data)));
  events.addEventListener("end", (e) => status("reconnecting (" + JSON.parse(e.data).reason + ")"));
  events.onerror = () => status("reconnecting…");
  const page = await fetch(
    "/messages/" + encodeURIComponent(me) + "/" + encodeURIComponent(peer) + "?limit=100",
    { headers: headers() },
  );
  if (!page.ok) {
    status("cannot read the conversation: " + (await problem(page)));
    return;
  }
  for (const m of await page.json()) show(m);
}

async function send(e) {
  e.preventDefault();
  const content = $("content").value;
  if (!peer || !content) return;
  const body = { toUser: peer, content };
  if (!$("token").value.trim()) body.fromUser = me;
  const response = await fetch("/messages", {
    method: "POST",
    // A retried click is stored once; randomUUID exists in secure contexts (https, localhost).
    headers: crypto.randomUUID ? { ...headers(), "Idempotency-Key": crypto.randomUUID() } : headers(),
    body: JSON.stringify(body),
  });
  if (response.ok) {
    $("content").value = "";
  } else {
    status("not sent: " + (await problem(response)));
  }
}

$("open").addEventListener("click", open);
$("compose").addEventListener("submit", send);
