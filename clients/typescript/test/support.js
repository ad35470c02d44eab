// What the client's tests need from the run that started them (e2e/tests/messaging/
// typescript_client.rs): the API's URL, the test issuer's key to sign tokens with, and how to start
// an API process of their own (for a restart).

import { createPrivateKey, sign, randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

import { WiberClient } from '../src/index.js';

function need(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: these tests run from \`make test\` (e2e typescript_client)`);
  return value;
}

export const apiUrl = () => need('WIBER_API_URL');
const key = () => createPrivateKey(readFileSync(need('WIBER_TOKEN_KEY')));

/** A name no other test run uses. */
export const unique = (name) => `${name}-${randomBytes(4).toString('hex')}`;

const b64 = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A token for `user` from the API's trusted issuer, expiring in `ttl` seconds. */
export function token(user, ttl = 300) {
  const now = Math.floor(Date.now() / 1000);
  const header = b64({ alg: 'EdDSA', typ: 'JWT', kid: need('WIBER_TOKEN_KID') });
  const claims = b64({
    sub: user,
    iss: need('WIBER_TOKEN_ISSUER'),
    aud: need('WIBER_TOKEN_AUDIENCE'),
    iat: now,
    exp: now + ttl,
  });
  const signature = sign(null, Buffer.from(`${header}.${claims}`), key()).toString('base64url');
  return `${header}.${claims}.${signature}`;
}

/** A client for `user` whose getToken signs a fresh token (and counts how often it was asked). */
export function clientFor(user, options = {}) {
  const asked = { count: 0 };
  const client = new WiberClient({
    baseUrl: options.baseUrl ?? apiUrl(),
    getToken: () => {
      asked.count++;
      return token(user, options.ttl ?? 300);
    },
    backoff: { baseMs: 100, maxMs: 2_000 },
    ...options.client,
  });
  return { client, asked };
}

/** Waits for `check` to return something truthy, polling, or fails naming `what`. */
export async function eventually(what, check, withinMs = 60_000) {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const found = await check();
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Every event a stream delivers, in order, and the states it went through. */
export function collect() {
  const seen = { events: [], states: [] };
  return {
    seen,
    onEvent: (event) => seen.events.push(event),
    onState: (state, why) => seen.states.push({ state, why }),
  };
}

async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * An API process of the test's own (the run's configuration, its own ports, `extra` settings),
 * which it may stop and start again on the same port.
 */
export async function ownApi(extra = {}) {
  const spec = JSON.parse(readFileSync(need('WIBER_API_SPEC'), 'utf8'));
  const [port, admin] = [await freePort(), await freePort()];
  const env = { ...process.env, RUST_LOG: 'warn', ...spec.env, API_PORT: String(port), API_ADMIN_PORT: String(admin), ...extra };
  const url = `http://127.0.0.1:${port}`;
  let child;
  const api = {
    url,
    async start() {
      child = spawn(spec.program, [], { env, stdio: ['ignore', 'ignore', 'inherit'] });
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.exited = exited;
      await eventually(`the API on ${url} to be ready`, async () => {
        try {
          return (await fetch(`${url}/health/readiness`)).ok;
        } catch {
          return false;
        }
      });
    },
    /** SIGTERM, as a rollout stops a replica, and waits for it to exit. */
    async stop() {
      if (!child || child.exitCode !== null) return;
      child.kill('SIGTERM');
      await child.exited;
    },
  };
  await api.start();
  return api;
}
