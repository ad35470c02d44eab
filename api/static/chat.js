// The chat page, built on Wiber's own client (clients/typescript, served at /chat/client/): the
// caller's conversations with unread badges, a conversation opened at its newest messages with
// older pages loaded on scroll, read ticks, and the live stream's typed events. Who you are is kept
// for the tab's life (sessionStorage); a refused or expired token is said plainly, and sends are
// retried under one Idempotency-Key per message.
import { WiberClient, WiberError, newKey, pairId } from "/chat/client/index.js";
import { $, createLog } from "/chat-log.js";

const PAGE = 100;
const state = {
  me: null,
  token: "",
  client: null,
  stream: null,
  conversations: [],
  current: null, // the open conversation's id
  group: null, // its group, if it is one
  prev: undefined, // the cursor of its older messages, while there are some
  loadingOlder: false,
  seqs: new Map(), // messageId -> place
  marks: new Map(), // member -> read up to place
  members: [],
  gone: false, // the user left or was removed: the conversation is read-only and never marked
  editing: null, // the id of the message being edited
  unsent: null, // {content, key} of a send that failed: sent again under the same key
  typedAt: 0,
  typingTimer: null,
  inboxTimer: null,
  drawnInbox: "", // what the conversation list and member list show, to redraw only on change
  drawnMembers: "",
};

const log = createLog(state, {
  edit: (id, content) => startEdit(id, content),
  delete: (id) => state.client.delete(id).catch(failed("not deleted")),
});

function tokenClaims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part));
  } catch (e) {
    return null;
  }
}

function status(text) {
  $("status").textContent = text;
}

// A refusal in words a person can act on.
function explain(error) {
  if (!(error instanceof WiberError)) return String(error);
  switch (error.code) {
    case "token_expired":
      return "your token has expired: sign in with a new one";
    case "token_invalid":
      return "this token is not accepted here (" + error.message + ")";
    case "token_missing":
      return "a token is needed";
    case "not_a_member":
      return "you are not (or no longer) a member of this conversation";
    case "rate_limited":
      return "too many requests: slow down a little";
    case "unreachable":
      return "the server does not answer";
    default:
      return error.message;
  }
}

function signOut(why) {
  if (state.stream) state.stream.close();
  clearInterval(state.inboxTimer);
  Object.assign(state, { stream: null, client: null, me: null, token: "" });
  sessionStorage.removeItem("wiber.session");
  $("signin-box").classList.remove("hidden");
  status("sign-in refused: " + why);
}

async function signIn(saved) {
  if (state.stream) return true;
  const token = saved ? saved.token : $("token").value.trim();
  const user = saved ? saved.user : $("user").value.trim();
  // The user is the claim the API names them by (AUTH_USER_CLAIM): asked of the API, not guessed.
  const client = new WiberClient({
    baseUrl: location.origin,
    getToken: () => token || null,
    user: token ? undefined : user,
  });
  let me = user;
  try {
    if (!token && !user) throw new WiberError(401, { code: "token_missing" });
    me = token ? (await client.whoami()).user : user;
  } catch (error) {
    signOut(explain(error));
    return false;
  }
  Object.assign(state, { client, me, token });
  sessionStorage.setItem("wiber.session", JSON.stringify({ token, user }));
  $("signin-box").classList.add("hidden");
  const expires = tokenClaims(token)?.exp;
  if (expires) $("expiry").textContent = "token valid until " + new Date(expires * 1000).toLocaleTimeString();
  state.stream = client.stream({ onEvent, onState });
  // Unread counts follow the store, which the stream runs ahead of.
  state.inboxTimer = setInterval(refreshInbox, 2000);
  refreshInbox();
  return true;
}

function onState(streamState, why) {
  if (streamState === "live") status(state.me + ": live");
  else if (streamState === "reconnecting") status("reconnecting (" + (why instanceof WiberError ? explain(why) : why) + ")…");
  else if (streamState === "closed" && why instanceof WiberError) signOut(explain(why));
}

function onEvent(event) {
  if (event.type === "message" || event.type === "membership") onItem(event.data);
  else if (event.type === "receipt") log.receipt(event.data);
  else if (event.type === "typing") log.typing(event.data);
  else {
    log.change(event.data, event.type === "delete");
    refreshInbox();
  }
}

// Any refusal of a call the page makes on its own: a token refused ends the session.
function failed(what) {
  return (error) => {
    if (error instanceof WiberError && error.tokenRefused) signOut(explain(error));
    else status(what + ": " + explain(error));
  };
}

async function refreshInbox() {
  if (!state.client) return;
  let conversations;
  try {
    conversations = (await state.client.conversations({ limit: 50 })).conversations;
  } catch (error) {
    return failed("conversations unavailable")(error);
  }
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
  if (state.gone) return;
  const c = state.conversations.find((c) => c.conversationId === state.current);
  if (c && c.unreadCount > 0 && c.lastMessage) {
    state.client.markRead(state.current, c.lastMessage.messageId).catch(failed("not marked read"));
  }
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
    // The open conversation is being read: no badge while the mark is on its way.
    if (c.unreadCount > 0 && c.conversationId !== state.current) {
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

async function loadOlder() {
  if (!state.prev || state.loadingOlder) return;
  state.loadingOlder = true;
  try {
    log.prepend(await state.client.history(state.current, { before: state.prev, limit: PAGE }));
    log.renderTicks();
  } catch (error) {
    failed("older messages unavailable")(error);
  } finally {
    state.loadingOlder = false;
  }
}

function conversationOf(m) {
  return m.conversationId || pairId(m.fromUser, m.toUser);
}

function onItem(m) {
  if (conversationOf(m) === state.current) {
    log.append(m);
    if (m.membership) loadMembers();
    if (m.fromUser !== state.me) $("typing").textContent = "";
    log.renderTicks();
  }
  refreshInbox();
}

async function loadMembers() {
  let info;
  try {
    info = await state.client.conversation(state.current);
  } catch (error) {
    return failed("members unavailable")(error);
  }
  const drawn = JSON.stringify([state.current, info]);
  if (drawn === state.drawnMembers) return;
  state.drawnMembers = drawn;
  state.members = info.members;
  state.group = info.group || null;
  const gone = info.readableUntil !== undefined && info.readableUntil !== null;
  state.gone = gone;
  const peer = info.members.find((u) => u !== state.me) || state.me;
  $("title").textContent = state.group ? state.group.title || "Group" : peer;
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
        state.client.removeMember(state.current, user).catch(failed("not removed")),
      );
      li.append(remove);
    }
    list.append(li);
  }
}

async function loadMarks() {
  const reads = await state.client.request("GET", "/conversations/" + encodeURIComponent(state.current) + "/reads");
  for (const mark of reads.data) state.marks.set(mark.user, mark.readSeq);
}

async function openConversation(id) {
  if (!(await signIn())) return;
  Object.assign(state, { current: id, prev: undefined, members: [], drawnMembers: "", gone: false });
  state.seqs.clear();
  state.marks.clear();
  $("log").replaceChildren();
  $("typing").textContent = "";
  cancelEdit();
  try {
    // Where a chat opens: its newest messages, at the bottom; older ones load on scrolling up.
    log.prepend(await state.client.history(id, { newest: true, limit: PAGE }));
    $("log").scrollTop = $("log").scrollHeight;
    await loadMembers();
    await loadMarks();
  } catch (error) {
    return failed("cannot read the conversation")(error);
  }
  log.renderTicks();
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
  // A message that failed and is sent again unchanged keeps its key: the API stores it once.
  const key = state.unsent && state.unsent.content === content ? state.unsent.key : newKey();
  const to = state.current.startsWith("g-") ? { conversationId: state.current } : { toUser: state.members.find((u) => u !== state.me) || peerOf(state.current) };
  try {
    if (editing) await state.client.edit(editing, content);
    else await state.client.send(to, content, { key });
    state.unsent = null;
  } catch (error) {
    if (!editing) state.unsent = { content, key };
    failed("not sent")(error);
    if (!$("content").value) $("content").value = content;
  }
}

function peerOf(id) {
  const [a, b] = id.split(":");
  return a === state.me ? b : a;
}

function typing() {
  const now = Date.now();
  if (!state.current || state.editing || now - state.typedAt < 2500) return;
  state.typedAt = now;
  state.client.typing(state.current).catch(() => {});
}

async function createGroup() {
  if (!(await signIn())) return;
  const members = $("group-members").value.split(",").map((u) => u.trim()).filter((u) => u);
  const title = $("group-title").value.trim() || undefined;
  try {
    const made = await state.client.createGroup(members, title);
    $("group-members").value = "";
    $("group-title").value = "";
    await refreshInbox();
    openConversation(made.change.conversationId);
  } catch (error) {
    failed("no group")(error);
  }
}

async function addMember() {
  const user = $("member-name").value.trim();
  if (!user) return;
  try {
    await state.client.addMembers(state.current, [user]);
    $("member-name").value = "";
  } catch (error) {
    failed("not added")(error);
  }
}

$("signin").addEventListener("click", () => signIn());
$("open").addEventListener("click", async () => {
  if (!(await signIn())) return;
  const peer = $("peer").value.trim();
  if (peer) openConversation(pairId(state.me, peer));
});
$("create-group").addEventListener("click", createGroup);
$("add-member").addEventListener("click", addMember);
$("leave").addEventListener("click", () => state.client.removeMember(state.current, state.me).catch(failed("not left")));
$("cancel-edit").addEventListener("click", () => {
  cancelEdit();
  $("content").value = "";
});
$("compose").addEventListener("submit", send);
$("content").addEventListener("input", typing);
$("older").addEventListener("click", loadOlder);
$("log").addEventListener("scroll", () => {
  if ($("log").scrollTop < 40) loadOlder();
});
// A reload in the same tab signs in again as the same person.
const saved = sessionStorage.getItem("wiber.session");
if (saved) signIn(JSON.parse(saved));
