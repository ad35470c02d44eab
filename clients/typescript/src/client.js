// Wiber's HTTP API as typed calls: one place that sends a request, adds the token, retries what
// may be retried (honouring Retry-After) and turns a refusal into a WiberError.

import { WiberError, delay, refusal, retryable, sleep } from './errors.js';
import { Stream } from './stream.js';

/**
 * @typedef {import('./schema.js').components['schemas']} Schemas
 * @typedef {Schemas['Message']} Message
 * @typedef {Schemas['Conversation']} Conversation
 * @typedef {Schemas['ConversationInfo']} ConversationInfo
 * @typedef {Schemas['GroupChange']} GroupChange
 * @typedef {Schemas['Typing']} Typing
 * @typedef {Schemas['Me']} Me
 * @typedef {{toUser: string} | {conversationId: string}} Recipient
 * @typedef {(context: {refresh: boolean}) => string | null | Promise<string | null>} GetToken
 *   The caller's token; `refresh` when the last one was refused as expired. `null` where the API
 *   does not authenticate (AUTH_MODE=none).
 * @typedef {{baseMs: number, maxMs: number, random: () => number}} Backoff
 * @typedef {object} ClientOptions
 * @property {string} baseUrl where the API answers, e.g. `https://chat.example.com`
 * @property {GetToken} getToken
 * @property {typeof globalThis.fetch} [fetch] for tests and runtimes without a global fetch
 * @property {number} [retries] attempts after the first for a request that may be retried (5)
 * @property {Partial<Backoff>} [backoff] retry waits: from `baseMs` (500), doubling to `maxMs` (20 s)
 * @property {string} [user] whom to act as where the API does not authenticate (AUTH_MODE=none):
 *   sent as the `user` parameter (and a message's `fromUser`) while `getToken` gives no token
 * @typedef {{messages: Message[], prev?: string, next?: string}} MessagePage
 *   `prev`: pass as `before` for the older page; `next`: as `after` for the newer one.
 */

/** A new random Idempotency-Key (a UUID v4), also where `crypto.randomUUID` is not offered. */
export function newKey() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The id of the 1:1 conversation of `a` and `b` (either order): the two sorted, joined by `:`. */
export function pairId(/** @type {string} */ a, /** @type {string} */ b) {
  return a <= b ? `${a}:${b}` : `${b}:${a}`;
}

export class WiberClient {
  /** @param {ClientOptions} options */
  constructor(options) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.retries = options.retries ?? 5;
    /** @type {Backoff} */
    this.backoff = { baseMs: 500, maxMs: 20_000, random: Math.random, ...options.backoff };
    this.getToken = options.getToken;
    this.user = options.user;
    /** @type {Promise<string | null> | undefined} */
    this.token = undefined;
  }

  /** The token to send; a new one from `getToken` when `refresh` (the last was refused). */
  async bearer(refresh = false) {
    if (refresh || this.token === undefined) {
      this.token = Promise.resolve(this.getToken({ refresh }));
      // A failed getToken is asked again next time rather than remembered.
      this.token.catch(() => (this.token = undefined));
    }
    return this.token;
  }

  /**
   * Sends one request until it succeeds, is refused for good or runs out of retries.
   * @param {string} method
   * @param {string} path
   * @param {{query?: Record<string, string | number | boolean | undefined>, body?: unknown,
   *   headers?: Record<string, string>, idempotent?: boolean, asUser?: boolean}} [options]
   * @returns {Promise<{data: any, headers: Headers}>}
   */
  async request(method, path, options = {}) {
    const url = new URL(this.baseUrl + path);
    for (const [name, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(name, String(value));
    }
    const idempotent = options.idempotent ?? method === 'GET';
    let refreshed = false;
    for (let attempt = 0; ; attempt++) {
      /** @type {WiberError} */
      let error;
      try {
        /** @type {Record<string, string>} */
        const headers = { accept: 'application/json', ...options.headers };
        const token = await this.bearer();
        if (token) headers.authorization = `Bearer ${token}`;
        else if (this.user && options.asUser !== false) url.searchParams.set('user', this.user);
        if (options.body !== undefined) headers['content-type'] = 'application/json';
        const response = await this.fetch(url, {
          method,
          headers,
          body: options.body === undefined ? undefined : JSON.stringify(options.body),
        });
        if (response.ok) return { data: await response.json(), headers: response.headers };
        error = await refusal(response);
      } catch (thrown) {
        if (thrown instanceof WiberError) throw thrown;
        // fetch rejects only when no answer came: the request may or may not have arrived.
        error = new WiberError(0, { detail: `no answer from ${url.origin}: ${thrown}` });
      }
      if (error.code === 'token_expired' && !refreshed) {
        refreshed = true;
        await this.bearer(true);
        attempt--;
        continue;
      }
      if (attempt >= this.retries || !retryable(error, idempotent)) throw error;
      await sleep(delay(attempt, this.backoff, error.retryAfterMs));
    }
  }

  /** Whom the API takes the caller for (by the claim it reads), and until when. @returns {Promise<Me>} */
  async whoami() {
    return (await this.request('GET', '/me')).data;
  }

  /**
   * Sends a message, retried under one Idempotency-Key until the API has it: a retry never sends
   * it twice. Give `key` to keep it across a reload.
   * @param {Recipient} to
   * @param {string} content
   * @param {{key?: string}} [options]
   * @returns {Promise<Message>}
   */
  async send(to, content, options = {}) {
    const key = options.key ?? newKey();
    const fromUser = (await this.bearer()) ? undefined : this.user;
    const { data } = await this.request('POST', '/messages', {
      body: { ...to, content, fromUser },
      asUser: false,
      headers: { 'idempotency-key': key },
      idempotent: true,
    });
    return data;
  }

  /**
   * A page of a conversation, oldest first: `newest` (where a chat opens), the page `before` a
   * `prev` cursor, or the page `after` a `next` one.
   * @param {string} conversationId
   * @param {{newest?: boolean, before?: string, after?: string, limit?: number}} [page]
   * @returns {Promise<MessagePage>}
   */
  async history(conversationId, page = { newest: true }) {
    const query = { ...page, newest: page.newest ? true : undefined };
    const path = `/conversations/${encodeURIComponent(conversationId)}/messages`;
    const { data, headers } = await this.request('GET', path, { query });
    return cursors(data, headers);
  }

  /**
   * The caller's conversations, most recently active first, with unread counts.
   * @param {{before?: string, limit?: number}} [page]
   * @returns {Promise<{conversations: Conversation[], next?: string}>}
   */
  async conversations(page = {}) {
    const { data, headers } = await this.request('GET', '/conversations', { query: page });
    return { conversations: data, next: headers.get('x-next-cursor') ?? undefined };
  }

  /** @param {string} conversationId @returns {Promise<ConversationInfo>} */
  async conversation(conversationId) {
    const path = `/conversations/${encodeURIComponent(conversationId)}`;
    return (await this.request('GET', path)).data;
  }

  /** @param {string[]} members @param {string} [title] @returns {Promise<GroupChange>} */
  async createGroup(members, title) {
    return (await this.request('POST', '/conversations', { body: { members, title } })).data;
  }

  /** @param {string} conversationId @param {string[]} users @returns {Promise<GroupChange>} */
  async addMembers(conversationId, users) {
    const path = `/conversations/${encodeURIComponent(conversationId)}/members`;
    return (await this.request('POST', path, { body: { users } })).data;
  }

  /** @param {string} conversationId @param {string} user @returns {Promise<GroupChange>} */
  async removeMember(conversationId, user) {
    const path = `/conversations/${encodeURIComponent(conversationId)}/members/${encodeURIComponent(user)}`;
    return (await this.request('DELETE', path)).data;
  }

  /** Marks read up to `messageId`; repeating it changes nothing. @param {string} conversationId @param {string} messageId @returns {Promise<Conversation>} */
  async markRead(conversationId, messageId) {
    const path = `/conversations/${encodeURIComponent(conversationId)}/read`;
    return (await this.request('POST', path, { body: { messageId }, idempotent: true })).data;
  }

  /** @param {string} conversationId @returns {Promise<Typing>} */
  async typing(conversationId) {
    const path = `/conversations/${encodeURIComponent(conversationId)}/typing`;
    return (await this.request('POST', path, { idempotent: true })).data;
  }

  /** @param {string} messageId @param {string} content @returns {Promise<Message>} */
  async edit(messageId, content) {
    const path = `/messages/${encodeURIComponent(messageId)}`;
    return (await this.request('PATCH', path, { body: { content }, idempotent: true })).data;
  }

  /** @param {string} messageId @returns {Promise<Message>} */
  async delete(messageId) {
    const path = `/messages/${encodeURIComponent(messageId)}`;
    return (await this.request('DELETE', path, { idempotent: true })).data;
  }

  /**
   * The caller's live events (of one conversation `with` a user, or all), resumed after a
   * reconnect from the last event seen.
   * @param {import('./stream.js').StreamOptions} options
   */
  stream(options) {
    return new Stream(this, options);
  }
}

/** @param {Message[]} messages @param {Headers} headers @returns {MessagePage} */
function cursors(messages, headers) {
  return {
    messages,
    prev: headers.get('x-prev-cursor') ?? undefined,
    next: headers.get('x-next-cursor') ?? undefined,
  };
}

