import { afterAll, describe, expect, test } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readSecretDir } from '../../../src/relay/secret-dir.js';
import { writeAtomicDir } from '../../helpers/smtp/certs.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'secret-dir-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe('readSecretDir on the kubelet atomic-writer layout', () => {
  test('lists the keys only (no ..data, no timestamped dir), following the symlinks', async () => {
    const dir = path.join(root, 'users');
    writeAtomicDir(dir, { alice: 'a', bob: 'b' });
    const snap = await readSecretDir(dir);
    expect([...snap.files.keys()]).toEqual(['alice', 'bob']);
    expect(snap.files.get('alice')?.toString()).toBe('a');
  });
  test('the hash changes when content changes through a ..data swap, and only then', async () => {
    const dir = path.join(root, 'tls');
    writeAtomicDir(dir, { 'tls.crt': 'one', 'tls.key': 'k' });
    const a = await readSecretDir(dir, ['tls.crt', 'tls.key']);
    writeAtomicDir(dir, { 'tls.crt': 'one', 'tls.key': 'k' });
    const same = await readSecretDir(dir, ['tls.crt', 'tls.key']);
    writeAtomicDir(dir, { 'tls.crt': 'two', 'tls.key': 'k' });
    const b = await readSecretDir(dir, ['tls.crt', 'tls.key']);
    expect(same.hash).toBe(a.hash);
    expect(b.hash).not.toBe(a.hash);
    expect(fs.readdirSync(dir).filter((n) => n.startsWith('..2'))).toHaveLength(1); // old data dir removed
  });
  test('a missing required file is a clear error', async () => {
    await expect(readSecretDir(path.join(root, 'users'), ['tls.crt'])).rejects.toThrow(/cannot read .*tls\.crt: ENOENT/);
  });
});
