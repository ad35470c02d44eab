// The client against the real API, Kafka, consumer and store: sends, pages, typed events, and a
// stream that outlives its token's expiry and the API's restart without losing or repeating a
// message.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { WiberClient, WiberError, pairId } from '../src/index.js';
import { clientFor, collect, eventually, ownApi, token, unique } from './support.js';

const contents = (events) => events.filter((e) => e.type === 'message').map((e) => e.data.content);

test('a message sent is received live by the other user, typed, exactly once', async () => {
  const [alice, bob] = [unique('alice'), unique('bob')];
  const { client: sender } = clientFor(alice);
  const { client: receiver } = clientFor(bob);
  const { seen, onEvent, onState } = collect();
  const stream = receiver.stream({ onEvent, onState });
  await eventually('the stream to be live', () => stream.state === 'live');
  const sent = await sender.send({ toUser: bob }, 'hello from node');
  await eventually('the message on the stream', () => contents(seen.events).includes('hello from node'));
  const event = seen.events.find((e) => e.type === 'message');
  assert.equal(event.data.messageId, sent.messageId);
  assert.equal(event.data.fromUser, alice);
  assert.match(event.id, /^[0-9]/);
  stream.close();
  await stream.done;
  assert.equal(stream.state, 'closed');
});

test('a send whose answer was lost is retried under its key and stored once', async () => {
  const [alice, bob] = [unique('alice'), unique('bob')];
  let lost = 0;
  // The API takes the first POST, then the answer is lost on the way back.
  const flaky = async (url, init) => {
    const response = await fetch(url, init);
    if (init.method === 'POST' && lost++ === 0) throw new TypeError('connection reset');
    return response;
  };
  const { client } = clientFor(alice, { client: { fetch: flaky } });
  const message = await client.send({ toUser: bob }, 'only once, please');
  assert.equal(lost, 2, 'one lost answer, one retry');
  const { client: reader } = clientFor(bob);
  const page = await eventually('the message stored', async () => {
    const p = await reader.history(pairId(alice, bob));
    return p.messages.length > 0 && p;
  });
  assert.deepEqual(page.messages.map((m) => m.messageId), [message.messageId]);
});

test('a refused send says why, by code, and is not retried', async () => {
  const { client } = clientFor(unique('alice'));
  await assert.rejects(client.send({ toUser: 'no spaces allowed' }, 'x'), (error) => {
    assert.ok(error instanceof WiberError);
    assert.equal(error.status, 400);
    assert.equal(error.code, 'validation');
    return true;
  });
  const garbage = new WiberClient({ baseUrl: clientFor('x').client.baseUrl, getToken: () => 'not.a.token' });
  await assert.rejects(garbage.send({ toUser: 'bob' }, 'x'), (error) => {
    assert.equal(error.status, 401);
    assert.equal(error.code, 'token_invalid');
    assert.ok(error.tokenRefused);
    return true;
  });
});

test('a conversation of 300 opens at its newest page and pages back to its first', async () => {
  const [alice, bob] = [unique('alice'), unique('bob')];
  const { client } = clientFor(alice);
  for (let i = 1; i <= 300; i++) await client.send({ toUser: bob }, `m${i}`);
  const id = pairId(alice, bob);
  const newest = await eventually('all 300 stored', async () => {
    const page = await client.history(id, { newest: true, limit: 100 });
    return page.messages.at(-1)?.content === 'm300' && page;
  });
  assert.deepEqual(newest.messages.map((m) => m.content), range(201, 300));
  const middle = await client.history(id, { before: newest.prev, limit: 100 });
  assert.deepEqual(middle.messages.map((m) => m.content), range(101, 200));
  const first = await client.history(id, { before: middle.prev, limit: 100 });
  assert.deepEqual(first.messages.map((m) => m.content), range(1, 100));
  assert.equal(first.prev, undefined, 'nothing before the first message');
});

const range = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => `m${from + i}`);

test('a group change, a read receipt and an edit arrive as typed events', async () => {
  const [alice, bob] = [unique('alice'), unique('bob')];
  const { client: owner } = clientFor(alice);
  const { client: member } = clientFor(bob);
  const { seen, onEvent } = collect();
  const stream = owner.stream({ onEvent });
  await eventually('the stream to be live', () => stream.state === 'live');
  const { change } = await owner.createGroup([bob], 'Trip');
  const group = change.conversationId;
  await eventually('the membership event', () => seen.events.some((e) => e.type === 'membership'));
  const sent = await owner.send({ conversationId: group }, 'first draft');
  await eventually('the group to be readable', async () => (await member.history(group)).messages.length >= 2);
  await member.markRead(group, sent.messageId);
  await owner.edit(sent.messageId, 'final text');
  await eventually('the receipt and the edit', () =>
    seen.events.some((e) => e.type === 'receipt' && e.data.user === bob) &&
    seen.events.some((e) => e.type === 'edit' && e.data.content === 'final text'));
  const membership = seen.events.find((e) => e.type === 'membership');
  assert.equal(membership.data.membership.action, 'created');
  stream.close();
});

test('a stream outlives its token: it ends at expiry, gets a new token and resumes without a gap', async () => {
  const [alice, bob] = [unique('alice'), unique('bob')];
  const { client: sender } = clientFor(alice);
  const { client: receiver, asked } = clientFor(bob, { ttl: 3 });
  const { seen, onEvent, onState } = collect();
  const stream = receiver.stream({ onEvent, onState });
  await eventually('the stream to be live', () => stream.state === 'live');
  await sender.send({ toUser: bob }, 'before expiry');
  await eventually('the token to expire and the stream to come back', () =>
    seen.states.some((s) => s.why === 'token_expired') && stream.state === 'live', 30_000);
  await sender.send({ toUser: bob }, 'after expiry');
  await eventually('the second message', () => contents(seen.events).includes('after expiry'));
  assert.deepEqual(contents(seen.events), ['before expiry', 'after expiry']);
  assert.ok(asked.count >= 2, `getToken asked ${asked.count} times`);
  stream.close();
});

test('a bad token closes the stream at once with the reason, instead of reconnecting forever', async () => {
  const client = new WiberClient({ baseUrl: clientFor('x').client.baseUrl, getToken: () => 'garbage' });
  const { seen, onEvent, onState } = collect();
  const stream = client.stream({ onEvent, onState });
  await stream.done;
  assert.equal(stream.state, 'closed');
  assert.equal(stream.error.code, 'token_invalid');
  assert.deepEqual(seen.states.map((s) => s.state), ['closed']);
  const expired = new WiberClient({ baseUrl: client.baseUrl, getToken: () => token('bob', -120) });
  const again = expired.stream({ onEvent });
  await again.done;
  assert.equal(again.error.code, 'token_expired', 'a getToken that gives expired tokens ends it');
});

test('a stream and a send ride out the API restarting', async () => {
  const api = await ownApi();
  try {
    const [alice, bob] = [unique('alice'), unique('bob')];
    const { client: sender } = clientFor(alice, { baseUrl: api.url, client: { retries: 30 } });
    const { client: receiver } = clientFor(bob, { baseUrl: api.url });
    const { seen, onEvent, onState } = collect();
    const stream = receiver.stream({ onEvent, onState });
    await eventually('the stream to be live', () => stream.state === 'live');
    await sender.send({ toUser: bob }, 'before the restart');
    await eventually('the first message', () => contents(seen.events).length === 1);
    await api.stop();
    assert.ok(seen.states.some((s) => s.why === 'shutting_down'), JSON.stringify(seen.states));
    // Sent while nothing answers: retried until the API is back.
    const sending = sender.send({ toUser: bob }, 'during the restart');
    await api.start();
    await sending;
    await eventually('the stream back and the second message', () =>
      stream.state === 'live' && contents(seen.events).includes('during the restart'));
    assert.deepEqual(contents(seen.events), ['before the restart', 'during the restart']);
    stream.close();
  } finally {
    await api.stop();
  }
});

test('the rate limit is honoured: sends over the burst wait for Retry-After and all succeed', async () => {
  const api = await ownApi({ API_RATE_LIMIT_PER_SECOND: '2', API_RATE_LIMIT_BURST: '2' });
  try {
    const seenLimits = [];
    const watching = async (url, init) => {
      const response = await fetch(url, init);
      seenLimits.push({ status: response.status, left: response.headers.get('ratelimit') });
      return response;
    };
    const { client } = clientFor(unique('alice'), { baseUrl: api.url, client: { fetch: watching } });
    const bob = unique('bob');
    const sent = [];
    for (let i = 0; i < 5; i++) sent.push(await client.send({ toUser: bob }, `quick ${i}`));
    assert.equal(new Set(sent.map((m) => m.messageId)).size, 5);
    assert.ok(seenLimits.some((s) => s.status === 429), JSON.stringify(seenLimits));
    assert.ok(seenLimits.every((s) => /^"user";r=\d+;t=\d+$/.test(s.left)), JSON.stringify(seenLimits));
  } finally {
    await api.stop();
  }
});
