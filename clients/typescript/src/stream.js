// The live stream, written once for browsers and Node: Server-Sent Events read with fetch (so the
// token goes in the Authorization header, not the URL), resumed from the last event after every
// reconnect, with backoff and jitter, a new token from `getToken` when the old one expired, and the
// server's own `retry:` honoured when it ends a stream (a rollout spreads its clients' return).

import { WiberError, delay, refusal, retryable, sleep } from './errors.js';

/**
 * @typedef {import('./schema.js').components['schemas']} Schemas
 * @typedef {{type: 'message' | 'membership', id: string, data: Schemas['Message']}
 *   | {type: 'receipt', id: string, data: Schemas['Receipt']}
 *   | {type: 'typing', id: string, data: Schemas['Typing']}
 *   | {type: 'edit' | 'delete', id: string, data: Schemas['Changed']}} StreamEvent
 *   One event, its `data` typed by its `type`; `id` is the position just after it.
 * @typedef {'connecting' | 'live' | 'reconnecting' | 'closed'} StreamState
 *   `closed` ends it: by `close()`, or a refusal no retry mends (see `error`).
 * @typedef {object} StreamOptions
 * @property {(event: StreamEvent) => void} onEvent
 * @property {(state: StreamState, why?: string | WiberError) => void} [onState]
 *   `why`: the end reason the server gave (`token_expired`, `shutting_down`, ...) or the refusal.
 * @property {string} [with] only the conversation with this user (1:1) or this group
 * @property {string} [after] resume after this event id (as `Last-Event-ID`)
 */

const EVENTS = new Set(['message', 'membership', 'receipt', 'typing', 'edit', 'delete']);

export class Stream {
  /**
   * @param {import('./client.js').WiberClient} client
   * @param {StreamOptions} options
   */
  constructor(client, options) {
    this.client = client;
    this.options = options;
    /** The id of the last event seen: where a reconnect resumes. */
    this.lastId = options.after;
    /** @type {StreamState} */
    this.state = 'connecting';
    /** @type {WiberError | undefined} why it closed, if the API refused it */
    this.error = undefined;
    this.abort = new AbortController();
    /** Settles when the stream is closed. */
    this.done = this.run();
  }

  close() {
    this.abort.abort();
    this.set('closed');
  }

  /** @param {StreamState} state @param {string | WiberError} [why] */
  set(state, why) {
    if (this.state === 'closed' || (this.state === state && why === undefined)) return;
    this.state = state;
    this.options.onState?.(state, why);
  }

  async run() {
    const signal = this.abort.signal;
    let attempt = 0;
    let refresh = false;
    while (!signal.aborted) {
      let wait;
      try {
        const token = await this.client.bearer(refresh);
        const url = new URL(`${this.client.baseUrl}/messages/stream`);
        if (this.options.with) url.searchParams.set('with', this.options.with);
        /** @type {Record<string, string>} */
        const headers = { accept: 'text/event-stream' };
        if (token) headers.authorization = `Bearer ${token}`;
        else if (this.client.user) url.searchParams.set('user', this.client.user);
        if (this.lastId) headers['last-event-id'] = this.lastId;
        const response = await this.client.fetch(url, { headers, signal });
        if (!response.ok || !response.body) {
          const error = await refusal(response);
          if (error.code === 'token_expired' && !refresh) {
            refresh = true;
            continue;
          }
          if (error.status < 500 && !retryable(error, true)) {
            this.error = error;
            this.set('closed', error);
            return;
          }
          wait = delay(attempt++, this.client.backoff, error.retryAfterMs);
          this.set('reconnecting', error);
        } else {
          refresh = false;
          const ended = await this.read(response.body);
          if (signal.aborted) return;
          if (ended.wasLive) attempt = 0;
          refresh = ended.reason === 'token_expired';
          wait = refresh ? 0 : (ended.retryMs ?? delay(attempt++, this.client.backoff, undefined));
          this.set('reconnecting', ended.reason ?? 'disconnected');
        }
      } catch (thrown) {
        if (signal.aborted) return;
        wait = delay(attempt++, this.client.backoff, undefined);
        this.set('reconnecting', new WiberError(0, { detail: String(thrown) }));
      }
      await sleep(wait, signal);
    }
  }

  /**
   * Reads one connection's events until it ends.
   * @param {ReadableStream<Uint8Array>} body
   * @returns {Promise<{reason?: string, retryMs?: number, wasLive: boolean}>}
   */
  async read(body) {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    /** @type {{reason?: string, retryMs?: number, wasLive: boolean}} */
    const ended = { wasLive: false };
    let buffer = '';
    let event = { type: 'message', data: /** @type {string[]} */ ([]), id: undefined };
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return ended;
        buffer += decoder.decode(value, { stream: true });
        // A CR at the end may be the first half of a CRLF: it waits for the next chunk.
        const complete = buffer.endsWith('\r') ? buffer.slice(0, -1) : buffer;
        const lines = complete.split(/\r\n|\r|\n/);
        buffer = (lines.pop() ?? '') + buffer.slice(complete.length);
        for (const line of lines) {
          if (line === '') {
            this.dispatch(event, ended);
            event = { type: 'message', data: [], id: undefined };
            continue;
          }
          if (line.startsWith(':')) continue;
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'event') event.type = value;
          else if (field === 'data') event.data.push(value);
          else if (field === 'id') event.id = /** @type {any} */ (value);
          else if (field === 'retry' && /^[0-9]+$/.test(value)) ended.retryMs = Number(value);
        }
      }
    } catch {
      // The connection dropped (or was closed): the caller reconnects from `lastId`.
      return ended;
    } finally {
      reader.releaseLock();
    }
  }

  /**
   * @param {{type: string, data: string[], id: string | undefined}} event
   * @param {{reason?: string, wasLive: boolean}} ended
   */
  dispatch(event, ended) {
    if (event.data.length === 0) return;
    const data = JSON.parse(event.data.join('\n'));
    if (event.type === 'end') {
      ended.reason = data.reason;
      return;
    }
    if (event.id !== undefined) this.lastId = event.id;
    if (event.type === 'ready') {
      ended.wasLive = true;
      this.set('live');
    } else if (EVENTS.has(event.type) && event.id !== undefined) {
      this.options.onEvent(/** @type {StreamEvent} */ ({ type: event.type, id: event.id, data }));
    }
  }
}
