import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { HubConfigError, loadConfig } from './config.ts';

describe('hub config', () => {
  it('defaults to port 8090 and SQLite, blobs and key under .data/hub', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ port: 8090, dataDir: '.data/hub', maxUploadBytes: 2 * 1024 ** 3 });
    expect(c.databaseUrl).toBe(`sqlite:${path.join('.data/hub', 'hub.sqlite')}`);
    expect(c.signingKeyPath).toBe(path.join('.data/hub', 'signing-key.pem'));
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('reads HUB_* variables, and overrides (CLI options) win', () => {
    const c = loadConfig(
      { HUB_PORT: '9000', HUB_DATABASE_URL: 'postgres://u@db/hub', HUB_MAX_UPLOAD_BYTES: '4096' },
      { port: 9100 },
    );
    expect(c).toMatchObject({ port: 9100, databaseUrl: 'postgres://u@db/hub', maxUploadBytes: 4096 });
  });

  it.each([
    [{ HUB_PORT: '70000' }, 'port'],
    [{ HUB_DATABASE_URL: 'mysql://x/y' }, 'databaseUrl'],
    [{ HUB_ADMIN_TOKEN: 'short' }, 'adminToken'],
    [{ HUB_MAX_UPLOAD_BYTES: 'lots' }, 'maxUploadBytes'],
  ])('refuses %j naming %s', (env, key) => {
    expect(() => loadConfig(env)).toThrow(HubConfigError);
    expect(() => loadConfig(env)).toThrow(key);
  });
});
