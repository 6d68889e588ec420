// A service-account directory laid out like kubelet's projected volume (token, ca.crt, namespace behind
// `..data`), written and rotated with the kubelet-style AtomicWriter in kubelet-volume.ts.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeletVolume } from './kubelet-volume.js';

export interface SaDirFiles {
  token: string;
  caPem: string;
  namespace?: string;
}

export class SaDir {
  private files: Record<string, string>;

  private constructor(
    readonly dir: string,
    private readonly root: string,
    private readonly volume: KubeletVolume,
    files: Record<string, string>,
  ) {
    this.files = files;
  }

  static async create({ token, caPem, namespace = 'default' }: SaDirFiles): Promise<SaDir> {
    const root = await mkdtemp(join(tmpdir(), 'podmeta-sa-'));
    const dir = join(root, 'serviceaccount');
    const files = { token, 'ca.crt': caPem, namespace };
    const volume = await KubeletVolume.create(dir, files);
    return new SaDir(dir, root, volume, files);
  }

  /** kubelet's token refresh: a new generation with the new token, swapped in through `..data`. */
  async rotateToken(token: string): Promise<void> {
    this.files = { ...this.files, token };
    await this.volume.update(this.files);
  }

  /** Replace any of the files (e.g. a different ca.crt). */
  async update(files: Partial<Record<'token' | 'ca.crt' | 'namespace', string>>): Promise<void> {
    this.files = { ...this.files, ...files };
    await this.volume.update(this.files);
  }

  async remove(): Promise<void> {
    await rm(this.root, { recursive: true, force: true });
  }
}

/** A JWT-shaped token whose `sub` names the ServiceAccount (the signature part is random, not checked). */
export function fakeJwt(namespace: string, name: string, salt = Math.random().toString(36).slice(2)): string {
  const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  return [
    b64({ alg: 'RS256', kid: 'test' }),
    b64({ sub: `system:serviceaccount:${namespace}:${name}`, aud: ['https://kubernetes.default.svc'], salt }),
    Buffer.from(`sig-${salt}`).toString('base64url'),
  ].join('.');
}
