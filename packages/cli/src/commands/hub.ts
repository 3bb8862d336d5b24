import {
  HUB_ENV_VARS,
  HubConfigError,
  type HubConfigInput,
  loadConfig,
  startHub,
} from '@storevision/model-hub';
import type { Command } from 'commander';
import { CliError } from '../errors.ts';

/**
 * `storevision hub`: the model hub (registry of versioned, validated, signed models). Runs until
 * SIGINT/SIGTERM, then closes the HTTP server and the database.
 */
export function registerHub(program: Command): void {
  program
    .command('hub')
    .description('run the model hub: publish, list and download signed model versions (default port 8090)')
    .option('--port <n>', 'HTTP port (0 picks a free one)', '8090')
    .option('--host <addr>', 'interface to listen on', '0.0.0.0')
    .option(
      '--data-dir <dir>',
      'blobs, the SQLite file, the signing key and the admin token live here',
      '.data/hub',
    )
    .option(
      '--database-url <url>',
      'postgres://… for PostgreSQL, or sqlite:<file> (default: sqlite:<data-dir>/hub.sqlite)',
    )
    .option('--max-upload-bytes <n>', 'largest model file a publish may upload', String(2 * 1024 ** 3))
    .option(
      '--signing-key <file>',
      'ed25519 private key, PEM (default: <data-dir>/signing-key.pem, made on first start)',
    )
    .option('--admin-token <token>', 'bootstrap admin token (default: generated into <data-dir>/admin-token)')
    .option('--validation-timeout <ms>', 'longest a published model may take to validate', '120000')
    .option(
      '--event-retention <ms>',
      'how long raw store events (and minute rollups) are kept',
      String(30 * 86_400_000),
    )
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent', 'info')
    .addHelpText(
      'after',
      `\nEvery option can also come from the environment: ${HUB_ENV_VARS.join(', ')}.\n` +
        'Options given here win over the environment.\n\nExample:\n' +
        '  storevision hub --port 8090 --database-url postgres://hub@db.internal/hub\n' +
        '  storevision models publish models/person-detector/person-detector.onnx --name person-detector \\\n' +
        '    --manifest models/person-detector/manifest.json',
    )
    .action(async (o, cmd: Command) => {
      const given = (name: string) => cmd.getOptionValueSource(name) === 'cli';
      const pick = <K extends keyof HubConfigInput>(
        key: K,
        option: string,
        env: string,
        map: (v: string) => HubConfigInput[K],
      ) => (given(option) || (!process.env[env] && o[option] !== undefined) ? { [key]: map(o[option]) } : {});
      let config: ReturnType<typeof loadConfig>;
      try {
        config = loadConfig(process.env, {
          ...pick('port', 'port', 'HUB_PORT', Number),
          ...pick('host', 'host', 'HUB_HOST', String),
          ...pick('dataDir', 'dataDir', 'HUB_DATA_DIR', String),
          ...pick('databaseUrl', 'databaseUrl', 'HUB_DATABASE_URL', String),
          ...pick('maxUploadBytes', 'maxUploadBytes', 'HUB_MAX_UPLOAD_BYTES', Number),
          ...pick('signingKeyPath', 'signingKey', 'HUB_SIGNING_KEY_PATH', String),
          ...pick('adminToken', 'adminToken', 'HUB_ADMIN_TOKEN', String),
          ...pick('validationTimeoutMs', 'validationTimeout', 'HUB_VALIDATION_TIMEOUT_MS', Number),
          ...pick('eventRetentionMs', 'eventRetention', 'HUB_EVENT_RETENTION_MS', Number),
          ...pick('logLevel', 'logLevel', 'HUB_LOG_LEVEL', (v) => v as HubConfigInput['logLevel']),
        });
      } catch (err) {
        if (err instanceof HubConfigError) throw new CliError('CLI_ERR_USAGE', err.message);
        throw err;
      }
      const running = await startHub(config);
      const token = running.hub.adminToken.file
        ? `admin token in ${running.hub.adminToken.file}`
        : 'admin token from configuration';
      console.error(
        `storevision hub: listening on ${running.url} (${running.hub.database.kind}, data in ${config.dataDir}; ${token}); dashboard at ${running.url}/`,
      );
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          console.error(`storevision hub: ${signal}, stopping`);
          running.close().finally(resolve);
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
    });
}
