// A real SMTP upstream for tests: smtp-server that requires STARTTLS and AUTH, stores
// what it accepted, and can be told to misbehave.
import { SMTPServer, type SMTPServerSession } from 'smtp-server';

export interface CapturedMessage {
  from: string;
  to: string[];
  raw: Buffer;
  requireTLS: boolean;
  tlsProtocol?: string;
  user: string;
}

export type FailMode = 'none' | 'temp' | 'perm' | 'hang' | 'close-mid-data' | 'reject-rcpt';

export interface CaptureUpstream {
  port: number;
  messages: CapturedMessage[];
  /** Recipients refused at RCPT: address -> reply code. */
  rejectRecipients: Map<string, number>;
  fail: FailMode;
  /** Number of DATA transactions seen (accepted or not). */
  dataStarted: number;
  /** Delay before answering the end of DATA (a slow upstream). */
  delayMs: number;
  close(): Promise<void>;
  waitFor(count: number, timeoutMs?: number): Promise<void>;
}

/** opts.host: where to listen (default 127.0.0.1; the node e2e tests use the test cluster's NODE_IP). */
export async function startCaptureUpstream(opts: { key: string; cert: string; user: string; pass: string; requireTls?: boolean; advertiseRequireTls?: boolean; host?: string }): Promise<CaptureUpstream> {
  const state: CaptureUpstream = {
    port: 0,
    messages: [],
    rejectRecipients: new Map(),
    fail: 'none',
    dataStarted: 0,
    delayMs: 0,
    close: async () => undefined,
    waitFor: async () => undefined,
  };
  const secureSessions = new WeakSet<SMTPServerSession>();
  const protocols = new WeakMap<SMTPServerSession, string>();
  const server = new SMTPServer({
    key: opts.key,
    cert: opts.cert,
    minVersion: 'TLSv1.2',
    logger: false,
    disableReverseLookup: true,
    authMethods: ['PLAIN', 'LOGIN'],
    hideREQUIRETLS: opts.advertiseRequireTls === false,
    hideENHANCEDSTATUSCODES: false,
    onSecure(socket, session, cb) {
      secureSessions.add(session);
      protocols.set(session, (socket as import('node:tls').TLSSocket).getProtocol?.() ?? '');
      cb();
    },
    onAuth(auth, session, cb) {
      if (opts.requireTls !== false && !secureSessions.has(session)) return cb(new Error('TLS first'));
      if (auth.username === opts.user && auth.password === opts.pass) return cb(null, { user: auth.username });
      cb(null, { message: 'bad credentials' } as never);
    },
    onRcptTo(address, _session, cb) {
      const code = state.rejectRecipients.get(address.address.toLowerCase());
      if (code) return cb(Object.assign(new Error(code >= 500 ? 'No such user here' : 'Try again later'), { responseCode: code }));
      cb();
    },
    onData(stream, session, cb) {
      state.dataStarted++;
      const mode = state.fail;
      const chunks: Buffer[] = [];
      if (mode === 'close-mid-data') {
        stream.once('data', () => {
          // Drop the connection while the message is still arriving.
          (server.connections as Set<{ session: SMTPServerSession; _socket: import('node:net').Socket }>).forEach((c) => {
            if (c.session === session) c._socket.destroy();
          });
        });
        stream.resume();
        return;
      }
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => setTimeout(answer, state.delayMs));
      const answer = () => {
        if (mode === 'hang') return; // never answer
        if (mode === 'temp') return cb(Object.assign(new Error('Upstream busy, try later'), { responseCode: 451 }));
        if (mode === 'perm') return cb(Object.assign(new Error('Content rejected'), { responseCode: 554 }));
        state.messages.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks),
          requireTLS: session.envelope.requireTLS === true,
          tlsProtocol: protocols.get(session),
          user: String(session.user),
        });
        cb(null, 'Ok: queued');
      };
    },
  });
  server.on('error', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, opts.host ?? '127.0.0.1', () => resolve()));
  const addr = server.server.address();
  state.port = addr && typeof addr === 'object' ? addr.port : 0;
  state.close = () =>
    new Promise<void>((resolve) => {
      server.options.closeTimeout = 100;
      server.close(() => resolve());
      for (const c of server.connections as Set<{ _socket: import('node:net').Socket }>) c._socket.destroy();
    });
  state.waitFor = async (count, timeoutMs = 10_000) => {
    const until = Date.now() + timeoutMs;
    while (state.messages.length < count) {
      if (Date.now() > until) throw new Error(`upstream has ${state.messages.length} messages, expected ${count}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return state;
}
