import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
} from 'node:crypto';
import { link, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type ModelManifest, type ModelSignature, signingPayload } from '@storevision/contracts';
import { HubError } from '../errors.ts';

/**
 * The hub's ed25519 signing key. Edges pin the public key (`GET /v1/signing-key`) and refuse any
 * version whose signature does not verify (`verifyModelSignature` in @storevision/contracts).
 */
export class SigningKey {
  readonly publicKeyPem: string;
  /** First 16 hex digits of the sha256 of the public key's SPKI DER. */
  readonly keyId: string;

  constructor(private readonly privateKey: KeyObject) {
    if (privateKey.asymmetricKeyType !== 'ed25519')
      throw new HubError('HUB_ERR_INTERNAL', `signing key is ${privateKey.asymmetricKeyType}, not ed25519`);
    const pub = createPublicKey(privateKey);
    this.publicKeyPem = pub.export({ type: 'spki', format: 'pem' }).toString();
    this.keyId = createHash('sha256')
      .update(pub.export({ type: 'spki', format: 'der' }))
      .digest('hex')
      .slice(0, 16);
  }

  /**
   * Reads the PKCS#8 PEM at `file`, or generates a key there on first start (mode 0600). The new
   * key is written to a temp file and hard-linked into place, so two hubs starting on one data dir
   * at once end up with the same key, never a half-written one.
   */
  static async loadOrCreate(file: string): Promise<{ key: SigningKey; created: boolean }> {
    try {
      return { key: new SigningKey(createPrivateKey(await readFile(file, 'utf8'))), created: false };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    await mkdir(path.dirname(file), { recursive: true });
    const { privateKey } = generateKeyPairSync('ed25519');
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    try {
      await link(tmp, file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      await rm(tmp, { force: true });
      return { key: new SigningKey(createPrivateKey(await readFile(file, 'utf8'))), created: false };
    }
    await rm(tmp, { force: true });
    return { key: new SigningKey(privateKey), created: true };
  }

  sign(v: { name: string; version: string; digest: string; manifest: ModelManifest }): ModelSignature {
    return {
      algorithm: 'ed25519',
      keyId: this.keyId,
      value: sign(null, signingPayload(v), this.privateKey).toString('base64'),
    };
  }
}
