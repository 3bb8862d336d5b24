import { readFile, stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { CliError } from '../errors.ts';
import { DEFAULT_HUB_URL, HubClient, LOCAL_ADMIN_TOKEN_FILE, resolveToken } from '../hub-client.ts';
import { progressBar } from '../progress.ts';

const hubOption = (c: Command) =>
  c
    .option(
      '--hub <url>',
      `model hub URL (env STOREVISION_HUB_URL)`,
      process.env.STOREVISION_HUB_URL ?? DEFAULT_HUB_URL,
    )
    .option(
      '--token <token>',
      `API token (env STOREVISION_HUB_TOKEN; else a local hub's ${LOCAL_ADMIN_TOKEN_FILE})`,
    );

async function client(o: { hub: string; token?: string }): Promise<HubClient> {
  return new HubClient(o.hub, await resolveToken(o.token));
}

/** `storevision models publish|list|promote`: the data scientist's side of the model hub. */
export function registerModels(program: Command): void {
  const models = program
    .command('models')
    .description('publish, list and promote model versions in the model hub');

  hubOption(
    models
      .command('publish <file>')
      .description('validate and publish an ONNX model (an Ultralytics export needs no manifest)')
      .requiredOption('--name <name>', 'model name (a-z 0-9 -, at most 63 characters)')
      .option('--version <semver>', "version to publish (default: the manifest's)")
      .option(
        '--manifest <file>',
        'manifest.json describing the model (see ARCHITECTURE.md, "Model package")',
      )
      .option('--quiet', 'no progress bar'),
  )
    .addHelpText(
      'after',
      '\nThe hub checks the file parses as ONNX, loads in onnxruntime and matches the manifest before it\n' +
        'stores anything; refusals print the hub code (HUB_ERR_*) and exit 1.\n\nExamples:\n' +
        '  storevision models publish models/person-detector/person-detector.onnx --name person-detector \\\n' +
        '    --manifest models/person-detector/manifest.json --version 1.1.0\n' +
        '  storevision models publish yolov8n.onnx --name yolov8n --version 8.1.0',
    )
    .action(async (file: string, o) => {
      const size = await stat(file).then(
        (s) => s.size,
        () => {
          throw new CliError('CLI_ERR_FILE_UNREADABLE', `cannot read ${file}`);
        },
      );
      let manifestJson: string | undefined;
      if (o.manifest) {
        manifestJson = await readFile(o.manifest, 'utf8').catch(() => {
          throw new CliError('CLI_ERR_FILE_UNREADABLE', `cannot read ${o.manifest}`);
        });
      }
      if (!o.version && !manifestJson)
        throw new CliError('CLI_ERR_USAGE', 'give --version (or a --manifest that has one)');
      const hub = await client(o);
      const bar = progressBar(`uploading ${o.name}`, size, !o.quiet && process.stderr.isTTY === true);
      let result: Awaited<ReturnType<HubClient['publish']>>;
      try {
        result = await hub.publish({
          name: o.name,
          file,
          version: o.version,
          manifestJson,
          onProgress: (sent) => bar.update(sent),
        });
      } finally {
        bar.stop();
      }
      const { name, version, digest } = result.body;
      console.log(
        result.status === 201
          ? `published ${name}@${version} ${digest}`
          : `${name}@${version} was already published with these bytes ${digest}`,
      );
    });

  hubOption(
    models
      .command('list [name]')
      .description('list models, or the versions of one model')
      .option('--json', 'print the hub answer as JSON'),
  ).action(async (name: string | undefined, o) => {
    const hub = await client(o);
    if (name) {
      const r = await hub.listVersions(name);
      if (o.json) return void console.log(JSON.stringify(r, null, 2));
      printTable(
        ['VERSION', 'DIGEST', 'SIZE', 'PUBLISHED', 'ALIASES'],
        r.versions.map((v) => [
          v.version,
          v.digest.slice(0, 19),
          formatBytes(v.sizeBytes),
          v.createdAt,
          v.aliases.join(','),
        ]),
      );
      return;
    }
    const r = await hub.listModels();
    if (o.json) return void console.log(JSON.stringify(r, null, 2));
    printTable(
      ['NAME', 'LATEST', 'VERSIONS', 'ALIASES'],
      r.models.map((m) => [
        m.name,
        m.latestVersion,
        String(m.versions),
        Object.entries(m.aliases)
          .map(([a, v]) => `${a}=${v}`)
          .join(','),
      ]),
    );
  });

  hubOption(
    models
      .command('promote <name> <version>')
      .description('point an alias (stable, canary, …) at a published version')
      .option('--alias <alias>', 'alias to move', 'stable'),
  ).action(async (name: string, version: string, o) => {
    const r = await (await client(o)).setAlias(name, o.alias, version);
    console.log(`${r.name}@${r.alias} -> ${r.version}`);
  });
}

function printTable(head: string[], rows: string[][]): void {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  for (const r of [head, ...rows])
    console.log(
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    );
}

function formatBytes(n: number): string {
  return n >= 1024 ** 2 ? `${(n / 1024 ** 2).toFixed(1)} MiB` : `${(n / 1024).toFixed(1)} KiB`;
}
