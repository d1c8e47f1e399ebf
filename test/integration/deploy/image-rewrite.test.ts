// Supply chain (issue 11 item 12): the operator image is fully qualified, and kustomize's
// `images:` rewrites it in BOTH places it appears: the operator container and the default
// relay image (RELAY_IMAGE), in deploy/base itself and in an overlay, by tag or by digest.
import { afterAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { repoRoot } from '../../helpers/cli.js';

type Container = { name: string; image: string; args?: string[]; env?: { name: string; value?: string }[] };
type Obj = { kind: string; metadata: { name: string }; spec?: { template?: { spec?: { containers?: Container[] } } } };

const BASE = path.join(repoRoot, 'deploy', 'base');
// The image deploy/base names (test/unit/deploy/base-manifests.test.ts: the binary's default relay image is the same).
const BASE_IMAGE = (YAML.parse(fs.readFileSync(path.join(BASE, 'deployment.yaml'), 'utf8')) as Obj).spec!.template!.spec!.containers![0]!.image;
const IMAGE_NAME = BASE_IMAGE.slice(0, BASE_IMAGE.lastIndexOf(':'));
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'image-rewrite-'));

afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

function operatorContainer(dir: string): Container {
  // kustomize needs no cluster: kubectl's built-in kustomize, offline.
  const out = execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8', env: { ...process.env, KUBECONFIG: '/dev/null' } });
  const dep = YAML.parseAllDocuments(out).map((d) => d.toJSON() as Obj).find((o) => o.kind === 'Deployment' && o.metadata.name === 'smtp-relay-operator')!;
  return dep.spec!.template!.spec!.containers!.find((c) => c.name === 'operator')!;
}

const relayImageOf = (c: Container) => c.env?.find((e) => e.name === 'RELAY_IMAGE')?.value;

/** An overlay in a temp dir on top of deploy/base, with one `images:` entry. */
function overlay(name: string, image: Record<string, string>): string {
  const dir = path.join(work, name);
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'kustomization.yaml'), YAML.stringify({ resources: [path.relative(dir, BASE)], images: [{ name: IMAGE_NAME, ...image }] }));
  return dir;
}

describe('operator image and default relay image under kustomize images:', () => {
  test('deploy/base renders the fully qualified default image in both places', async () => {
    const c = operatorContainer(BASE);
    expect(c.image).toBe(BASE_IMAGE);
    expect(relayImageOf(c)).toBe(BASE_IMAGE);
    // registry/path:tag: no node resolves a short name against a registry of its choosing.
    expect(BASE_IMAGE).toMatch(/^[a-z0-9.-]+\.[a-z]{2,}\/[a-z0-9._/-]+:[\w.-]+$/);
  });

  test('`kustomize edit set image` in deploy/base itself (a copy) rewrites both', async () => {
    const copy = path.join(work, 'base-copy');
    fs.cpSync(BASE, copy, { recursive: true });
    const k = YAML.parse(fs.readFileSync(path.join(copy, 'kustomization.yaml'), 'utf8')) as { images: { name: string; newName?: string; newTag?: string }[] };
    k.images = [{ name: IMAGE_NAME, newName: 'registry.example.com/mail/smtp-relay-operator', newTag: '1.2.3' }];
    fs.writeFileSync(path.join(copy, 'kustomization.yaml'), YAML.stringify(k));
    const c = operatorContainer(copy);
    expect(c.image).toBe('registry.example.com/mail/smtp-relay-operator:1.2.3');
    expect(relayImageOf(c)).toBe(c.image);
  });

  test('an overlay pinning a digest rewrites both; other env values are untouched', async () => {
    const digest = `sha256:${'ab'.repeat(32)}`;
    const c = operatorContainer(overlay('digest', { newName: 'registry.example.com/mail/smtp-relay-operator', digest }));
    expect(c.image).toBe(`registry.example.com/mail/smtp-relay-operator@${digest}`);
    expect(relayImageOf(c)).toBe(c.image);
    expect(c.env?.find((e) => e.name === 'NODE_OPTIONS')?.value).toMatch(/^--max-old-space-size=/);
    // No --default-relay-image argument would override RELAY_IMAGE with a stale value.
    expect((c.args ?? []).some((a) => a.startsWith('--default-relay-image'))).toBe(false);
  });
});
