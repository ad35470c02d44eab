// @wiber/client: Wiber's HTTP API for browsers and Node.js 20+, with no dependencies. See README.md.

export { WiberClient, newKey, pairId } from './client.js';
export { Stream } from './stream.js';
export { WiberError } from './errors.js';

/**
 * The types an app names, from the contract (src/schema.d.ts) and the stream.
 * @typedef {import('./schema.js').components['schemas']['Message']} Message
 * @typedef {import('./schema.js').components['schemas']['Conversation']} Conversation
 * @typedef {import('./schema.js').components['schemas']['Problem']} Problem
 * @typedef {import('./client.js').MessagePage} MessagePage
 * @typedef {import('./client.js').ClientOptions} ClientOptions
 * @typedef {import('./stream.js').StreamEvent} StreamEvent
 * @typedef {import('./stream.js').StreamState} StreamState
 * @typedef {import('./stream.js').StreamOptions} StreamOptions
 */
