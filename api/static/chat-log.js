// The open conversation's log: messages as bubbles (mine with ticks, edit and delete), each with
// its place, live ones appended at the bottom and older pages prepended at the top, receipts,
// typing and changes applied in place. `state` is the page's; `actions` edit and delete a message.
export const $ = (id) => document.getElementById(id);

export function createLog(state, actions) {
  function text(m) {
    if (m.deleted) return "(deleted)";
    return m.content + (m.edited ? " (edited)" : "");
  }

  function item(m) {
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
      const button = (name, act) => {
        const b = document.createElement("button");
        b.className = name;
        b.type = "button";
        b.textContent = name;
        b.addEventListener("click", act);
        return b;
      };
      const tick = document.createElement("span");
      tick.className = "tick";
      li.append(
        tick,
        button("edit", () => actions.edit(m.messageId, m.content)),
        button("delete", () => actions.delete(m.messageId)),
      );
    }
    return li;
  }

  // A live message at the end, where the reader follows if they were at the bottom.
  function append(m) {
    if (document.querySelector('#log li[data-id="' + m.messageId + '"]')) return;
    const log = $("log");
    const following = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    const last = log.lastElementChild;
    state.seqs.set(m.messageId, (last ? state.seqs.get(last.dataset.id) || 0 : 0) + 1);
    log.append(item(m));
    if (following || m.fromUser === state.me) log.scrollTop = log.scrollHeight;
  }

  // A page at the top (older) or into an empty log, its places counted from its first: the
  // page's own X-Prev-Cursor, or 1 when nothing lies before it.
  function prepend(page) {
    const log = $("log");
    const first = page.prev ? Number(page.prev) : 1;
    const height = log.scrollHeight;
    const items = page.messages.map((m, i) => {
      state.seqs.set(m.messageId, first + i);
      return item(m);
    });
    log.prepend(...items);
    log.scrollTop += log.scrollHeight - height;
    state.prev = page.prev;
    $("older").classList.toggle("hidden", !state.prev);
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

  function receipt(r) {
    if (r.conversationId !== state.current) return;
    // The receipt names the message: its place here is what the reader has read up to.
    const seq = state.seqs.get(r.messageId) || r.readSeq;
    state.marks.set(r.user, Math.max(state.marks.get(r.user) || 0, seq));
    renderTicks();
  }

  function typing(t) {
    if (t.conversationId !== state.current || t.user === state.me) return;
    $("typing").textContent = t.user + " is typing…";
    clearTimeout(state.typingTimer);
    const left = Math.min(5000, Math.max(1000, t.expiresAt - Date.now()));
    state.typingTimer = setTimeout(() => ($("typing").textContent = ""), left);
  }

  function change(c, deleted) {
    const li = document.querySelector('#log li[data-id="' + c.messageId + '"]');
    if (li) {
      li.querySelector(".text").textContent = deleted ? "(deleted)" : c.content + " (edited)";
      if (deleted) {
        li.classList.add("deleted");
        li.querySelectorAll("button").forEach((b) => b.remove());
      }
    }
  }

  return { append, prepend, renderTicks, receipt, typing, change };
}
