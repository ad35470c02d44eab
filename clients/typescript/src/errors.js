// A refusal from the API, as the problem+json it answered (RFC 9457), with its stable `code`.

/** @typedef {import('./schema.js').components['schemas']['Problem']} Problem */

export class WiberError extends Error {
  /**
   * @param {number} status the HTTP status (0 when no answer came)
   * @param {Partial<Problem>} problem the problem+json body, as far as there was one
   * @param {number | undefined} retryAfterMs the wait the API asked for (Retry-After)
   */
  constructor(status, problem, retryAfterMs = undefined) {
    super(problem.detail ?? problem.title ?? `HTTP ${status}`);
    this.name = 'WiberError';
    this.status = status;
    /** What went wrong, stable and machine-readable: `token_expired`, `rate_limited`, ... */
    this.code = problem.code ?? (status === 0 ? 'unreachable' : 'unknown');
    this.problem = problem;
    this.retryAfterMs = retryAfterMs;
  }

  /** The token was refused (missing, invalid, expired): only a new token helps. */
  get tokenRefused() {
    return this.status === 401;
  }
}

/** Codes of refusals that happened before the API did anything: safe to retry any request. */
const NOTHING_DONE = new Set(['rate_limited', 'overloaded', 'auth_unavailable', 'unreachable']);

/**
 * Whether a request that failed so may be sent again: always for one the API deduplicates (a
 * GET, or a message under its Idempotency-Key), otherwise only if the API did nothing with it.
 * @param {WiberError} error
 * @param {boolean} idempotent
 */
export function retryable(error, idempotent) {
  if (NOTHING_DONE.has(error.code)) return true;
  if (!idempotent) return false;
  return error.status === 0 || error.status === 502 || error.status === 503 || error.status === 504;
}

/**
 * The wait before attempt `attempt` (0 for the first retry): the API's Retry-After when it gave
 * one, otherwise exponential backoff with full jitter, capped.
 * @param {number} attempt
 * @param {{baseMs: number, maxMs: number, random: () => number}} backoff
 * @param {number | undefined} retryAfterMs
 */
export function delay(attempt, backoff, retryAfterMs) {
  if (retryAfterMs !== undefined) return retryAfterMs;
  const ceiling = Math.min(backoff.maxMs, backoff.baseMs * 2 ** attempt);
  return ceiling / 2 + (backoff.random() * ceiling) / 2;
}

/** @param {string | null} value a Retry-After header in seconds */
export function retryAfter(value) {
  if (value === null || !/^[0-9]+$/.test(value.trim())) return undefined;
  return Number(value.trim()) * 1000;
}

/** @param {number} ms @param {AbortSignal} [signal] */
export function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve(undefined);
    });
  });
}

/** The refusal `response` carries. */
export async function refusal(/** @type {Response} */ response) {
  let problem = {};
  try {
    problem = await response.json();
  } catch {
    // An answer that is not problem+json (a proxy's page): the status says enough.
  }
  return new WiberError(response.status, problem, retryAfter(response.headers.get('retry-after')));
}
