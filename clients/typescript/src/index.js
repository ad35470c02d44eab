// @wiber/client: Wiber's HTTP API for browsers and Node.js 20+, with no dependencies. See README.md.

export { WiberClient, newKey, pairId } from './client.js';
export { Stream } from './stream.js';
export { WiberError } from './errors.js';
