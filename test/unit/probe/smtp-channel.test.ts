import { describe, expect, test } from '@jest/globals';
import { PassThrough } from 'node:stream';
import { ProbeError } from '../../../src/probe/errors.js';
import { SmtpChannel, ehloExtensions, hasExtension } from '../../../src/probe/smtp-channel.js';

function channelWith(...chunks: string[]): SmtpChannel {
  const stream = new PassThrough();
  const channel = new SmtpChannel(stream);
  for (const c of chunks) stream.push(c);
  return channel;
}

async function reason(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ProbeError) return err.reason;
    throw err;
  }
  throw new Error('expected a ProbeError');
}

describe('SMTP reply reader', () => {
  test('multi-line reply split across chunks', async () => {
    const ch = channelWith('250-mail.test\r\n250-PIPE', 'LINING\r\n250-STARTTLS\r\n250 AUTH PLAIN\r\n');
    const reply = await ch.readReply(1000, 'ehlo');
    expect(reply.code).toBe(250);
    expect(ehloExtensions(reply)).toEqual(['PIPELINING', 'STARTTLS', 'AUTH PLAIN']);
    expect(hasExtension(ehloExtensions(reply), 'AUTH')).toBe(true);
    expect(hasExtension(ehloExtensions(reply), 'STARTTL')).toBe(false);
  });
  test('a bare code line is a reply', async () => {
    expect((await channelWith('220\r\n').readReply(1000, 'banner')).code).toBe(220);
  });
  test('garbage fails as protocol-error without waiting for the timeout', async () => {
    expect(await reason(channelWith('HTTP/1.1 400 Bad Request\r\n').readReply(60_000, 'banner'))).toBe('protocol-error');
    expect(await reason(channelWith('SSH-2.0-OpenSSH').readReply(60_000, 'banner'))).toBe('protocol-error');
  });
  test('code changing inside a multi-line reply is a protocol error', async () => {
    expect(await reason(channelWith('250-a\r\n251 b\r\n').readReply(1000, 'ehlo'))).toBe('protocol-error');
  });
  test('silence is a timeout', async () => {
    expect(await reason(channelWith().readReply(20, 'banner'))).toBe('timeout');
  });
  test('half a reply then silence is a timeout that shows what came', async () => {
    const err = await channelWith('220 half').readReply(20, 'banner').catch((e: unknown) => e as ProbeError);
    expect(err).toBeInstanceOf(ProbeError);
    expect((err as ProbeError).message).toContain('220 half');
  });
  test('a closed connection is reported as such', async () => {
    const stream = new PassThrough();
    const ch = new SmtpChannel(stream);
    stream.end();
    stream.resume();
    expect(await reason(ch.readReply(1000, 'banner'))).toBe('connection-refused');
  });
});
