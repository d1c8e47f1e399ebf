// src/relay/smtp-listener.ts patches private parts of smtp-server (there are no options for
// what it adds). This fails when an smtp-server upgrade moves them, before a relay silently
// loses its pre-AUTH limits, its TLS-first guard or its PROXY v2 handling.
// package.json must pin smtp-server to the exact version below.
import { describe, expect, test } from '@jest/globals';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { SMTPServer } from 'smtp-server';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';

const PATCHED_FOR = '3.21.6';

function source(fn: unknown): string {
  expect(typeof fn).toBe('function');
  return (fn as () => void).toString();
}

describe('smtp-server internals the listener relies on', () => {
  test(`installed smtp-server is ${PATCHED_FOR}, the version the patches were written against`, () => {
    const require = createRequire(import.meta.url);
    const pkgPath = path.join(path.dirname(require.resolve('smtp-server')), '..', '..', 'package.json');
    expect((JSON.parse(fs.readFileSync(pkgPath, 'utf8')) as { version: string }).version).toBe(PATCHED_FOR);
  });

  test('SMTPConnection: command dispatch, idle timer and session reset are the methods we wrap', () => {
    const c = SMTPConnection.prototype as unknown as Record<string, unknown>;
    // The parser hands every line to _onCommand, and it is an own property we can replace per connection.
    expect(source(c._createParser)).toMatch(/this\._onCommand\(command, callback\)/);
    // Every idle timer goes through _armTimeout: at connect, on the STARTTLS socket, after a timeout.
    expect(source(c._setListeners)).toMatch(/this\._armTimeout\(\)/);
    expect(source(c.upgrade)).toMatch(/this\._armTimeout\(tlsSocket\)/);
    expect(source(c._onTimeout)).toMatch(/this\._armTimeout\(\)/);
    expect(source(c._armTimeout)).toMatch(/setTimeout\(.*_onTimeout\(\)\)/);
    // After a completed STARTTLS the session is reset once the TLS socket is in place.
    expect(source(c.upgrade)).toMatch(/this\._socket = tlsSocket;[\s\S]*this\._resetSession\(\)/);
    // Its own unauthenticated-command counter can only be turned off per connection.
    expect(source(c._onCommand)).toMatch(/this\._maxAllowedUnauthenticatedCommands !== false/);
    for (const name of ['_resetSession', '_whenWritable', 'connectionReady', 'send', 'close']) expect([name, typeof c[name]]).toEqual([name, 'function']);
  });

  test('SMTPServer: accepted sockets go through _expectsProxyHeader and _handleProxy before connect()', () => {
    const s = SMTPServer.prototype as unknown as Record<string, unknown>;
    expect(source(s._acceptSocket)).toMatch(/this\._expectsProxyHeader\(socket\)/);
    expect(source(s._handleProxy)).toMatch(/this\._expectsProxyHeader\(socket\)/);
    expect(source(SMTPServer)).toMatch(/this\._handleProxy\(socket, \(err, socketOptions\) =>/);
    expect(source(SMTPServer)).toMatch(/this\.connect\((tls)?[sS]ocket, socketOptions\)/);
    // connect() is what ListenerServer overrides; its body must still be these steps.
    expect(source(s.connect)).toMatch(/new SMTPConnection\(this, socket, socketOptions\)[\s\S]*connection\.init\(\)/);
  });
});
