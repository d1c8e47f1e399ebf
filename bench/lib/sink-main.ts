// The upstream for relay benches, in its own process so it does not share the load
// generator's CPU: smtp-server with STARTTLS and AUTH PLAIN/LOGIN (user relay), which
// accepts and discards every message and counts them.
// argv: <cert.pem> <key.pem> <user> <pass>. Prints `SINK_READY <port>`; answers IPC
// {get:'count'} with {count}.
import fs from 'node:fs';
import { SMTPServer } from 'smtp-server';

const [certPath, keyPath, user, pass] = process.argv.slice(2);
if (!certPath || !keyPath || !user || !pass) {
  process.stderr.write('usage: sink-main.ts CERT KEY USER PASS\n');
  process.exit(64);
}
let count = 0;
const server = new SMTPServer({
  cert: fs.readFileSync(certPath),
  key: fs.readFileSync(keyPath),
  minVersion: 'TLSv1.2',
  logger: false,
  disableReverseLookup: true,
  authMethods: ['PLAIN', 'LOGIN'],
  size: 64 * 1024 * 1024,
  maxClients: 1000,
  onAuth(auth, _session, cb) {
    if (auth.username === user && auth.password === pass) return cb(null, { user: auth.username });
    cb(new Error('bad credentials'));
  },
  onData(stream, _session, cb) {
    stream.on('data', () => undefined);
    stream.on('end', () => {
      count++;
      cb(null, 'Ok: discarded');
    });
  },
});
server.on('error', () => undefined);
server.listen(0, '127.0.0.1', () => {
  const addr = server.server.address();
  process.stdout.write(`SINK_READY ${addr && typeof addr === 'object' ? addr.port : 0}\n`);
});
process.on('message', (m: { get?: string }) => {
  if (m.get === 'count') process.send?.({ count });
});
process.on('disconnect', () => process.exit(0));
