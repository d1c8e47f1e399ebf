// A TCP proxy in front of a real upstream that can be told to fail the way networks and
// servers do: 'down' (every connection is cut and new ones are reset, like a killed
// upstream), 'slow' (each chunk delayed), 'pass'. Switching back to 'pass' is the restart.
import net from 'node:net';

export type ProxyMode = 'pass' | 'down' | 'slow';

export interface FaultProxy {
  port: number;
  mode: ProxyMode;
  slowMs: number;
  /** TCP connections accepted so far (in every mode): what a client really tried. */
  accepted: number;
  /** Cuts every open connection now (a crash of the upstream). */
  cutAll(): void;
  close(): Promise<void>;
}

export async function startFaultProxy(targetPort: number): Promise<FaultProxy> {
  const open = new Set<net.Socket>();
  const state: FaultProxy = {
    port: 0,
    mode: 'pass',
    slowMs: 300,
    accepted: 0,
    cutAll() {
      for (const s of open) s.destroy();
      open.clear();
    },
    close: async () => undefined,
  };
  const server = net.createServer((client) => {
    client.on('error', () => undefined);
    state.accepted++;
    if (state.mode === 'down') {
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect({ host: '127.0.0.1', port: targetPort, noDelay: true });
    // Without it, Nagle on the proxy's writes meets the peers' delayed ACKs: about 40 ms per SMTP round trip, a fault no real network adds.
    client.setNoDelay(true);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    open.add(client);
    open.add(upstream);
    const relay = (from: net.Socket, to: net.Socket) =>
      from.on('data', (d: Buffer) => {
        if (state.mode === 'slow') {
          from.pause();
          setTimeout(() => {
            if (!to.destroyed) to.write(d);
            from.resume();
          }, state.slowMs);
        } else if (!to.destroyed) to.write(d);
      });
    relay(client, upstream);
    relay(upstream, client);
    const done = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('close', done);
    upstream.on('close', done);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  state.port = (server.address() as net.AddressInfo).port;
  state.close = () =>
    new Promise<void>((r) => {
      state.cutAll();
      server.close(() => r());
    });
  return state;
}
