// What a TypeScript app sees of the package (its dist/*.d.ts): calls and events typed from the
// contract, so that a wrong use fails to compile. `npm run check` compiles this; it never runs.
import { WiberClient, WiberError, pairId, type StreamEvent } from '../dist/index.js';

const wiber = new WiberClient({ baseUrl: 'http://localhost:8000', getToken: () => 'token' });

export async function typed(): Promise<[string, number, string | undefined]> {
  const sent = await wiber.send({ toUser: 'bob' }, 'hello');
  // @ts-expect-error a message id is a string
  const wrong: number = sent.messageId;
  const page = await wiber.history(pairId('alice', 'bob'), { newest: true });
  // @ts-expect-error a recipient is a user or a conversation, not both missing
  await wiber.send({}, 'nobody');
  wiber.stream({
    onEvent: (event: StreamEvent) => {
      if (event.type === 'receipt') {
        const place: number = event.data.readSeq;
        void place;
      }
    },
    onState: (state, why) => void (why instanceof WiberError ? why.code : state),
  });
  void wrong;
  return [sent.messageId, page.messages[0].timestamp, page.prev];
}
