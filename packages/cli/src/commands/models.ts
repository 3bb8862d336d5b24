import { readFile, stat } from 'node:fs/promises';
import type { Rollout } from '@storevision/contracts';
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
    .description('publish, list, promote and roll out model versions in the model hub');

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

  hubOption(
    models
      .command('rollout <name> <versionOrAlias>')
      .description('roll a version (or alias) out to stores in waves, gated on the edges’ health')
      .option('--waves <list>', 'cumulative percents of the target stores, or stores joined by +', '100')
      .option('--hold <seconds>', 'how long each wave must stay healthy before the next', '60')
      .option('--stores <ids>', 'only these stores (comma-separated)')
      .option('--node-pools <ids>', 'only these node pools (comma-separated)')
      .option('--labels <k=v,…>', 'only nodes with these labels')
      .option('--max-error-rate <r>', 'health gate: largest error rate (0–1)', '0.01')
      .option('--max-p99 <ms>', 'health gate: largest p99 inference latency', '1000')
      .option('--json', 'print the hub answer as JSON'),
  )
    .addHelpText(
      'after',
      '\nA wave whose edges fail to load the version or breach the gate pauses the rollout and goes back\n' +
        'to the previous version by itself.\n\nExamples:\n' +
        '  storevision models rollout person-detector 1.1.0 --waves 50,100 --hold 30\n' +
        '  storevision models rollout person-detector stable --waves store-1,store-2+store-3 --hold 600',
    )
    .action(async (name: string, ref: string, o) => {
      const list = (v: string | undefined) =>
        v
          ?.split(',')
          .map((x) => x.trim())
          .filter(Boolean);
      const labels = o.labels
        ? Object.fromEntries(
            String(o.labels)
              .split(',')
              .map((kv) => kv.split('=').map((x) => x.trim())),
          )
        : undefined;
      const maxErrorRate = Number(o.maxErrorRate);
      const maxP99LatencyMs = Number(o.maxP99);
      if (!(maxErrorRate >= 0 && maxErrorRate <= 1))
        throw new CliError('CLI_ERR_USAGE', `--max-error-rate must be 0–1, got "${o.maxErrorRate}"`);
      if (!(maxP99LatencyMs > 0))
        throw new CliError('CLI_ERR_USAGE', `--max-p99 must be > 0, got "${o.maxP99}"`);
      const r = await (await client(o)).createRollout({
        model: name,
        ...(/^\d/.test(ref) ? { version: ref } : { alias: ref }),
        target: {
          ...(list(o.stores) ? { stores: list(o.stores) } : {}),
          ...(list(o.nodePools) ? { nodePools: list(o.nodePools) } : {}),
          ...(labels ? { labels } : {}),
        },
        waves: parseWaves(o.waves, o.hold),
        health: { maxErrorRate, maxP99LatencyMs },
      });
      if (o.json) return void console.log(JSON.stringify(r, null, 2));
      printRollout(r);
    });

  hubOption(
    models
      .command('status <rollout>')
      .description('a rollout’s state per store and node')
      .option('--json', 'print the hub answer as JSON'),
  ).action(async (id: string, o) => {
    const r = await (await client(o)).getRollout(id);
    if (o.json) return void console.log(JSON.stringify(r, null, 2));
    printRollout(r);
  });

  for (const [action, what] of [
    ['rollback', 'send every node the rollout moved back to its previous version'],
    ['pause', 'stop a rollout from advancing'],
    ['resume', 'resume a paused rollout (or end the current wave’s hold now)'],
  ] as const) {
    hubOption(
      models
        .command(`${action} <rollout>`)
        .description(what)
        .option('--json', 'print the hub answer as JSON'),
    ).action(async (id: string, o) => {
      const r = await (await client(o)).rolloutAction(id, action === 'resume' ? 'promote' : action);
      if (o.json) return void console.log(JSON.stringify(r, null, 2));
      printRollout(r);
    });
  }
}

/** `--waves 50,100 --hold 30`: cumulative percents (or store lists `s1+s2`) with one hold. */
export function parseWaves(waves: string, hold: string): Array<Record<string, unknown>> {
  const holdSeconds = Number(hold);
  if (!Number.isInteger(holdSeconds) || holdSeconds < 0)
    throw new CliError('CLI_ERR_USAGE', `--hold must be whole seconds ≥ 0, got "${hold}"`);
  const parts = waves.split(',').map((w) => w.trim());
  if (parts.length === 0 || parts.some((p) => p === ''))
    throw new CliError('CLI_ERR_USAGE', `--waves must be a comma-separated list, got "${waves}"`);
  return parts.map((p) => {
    if (/^\d+%?$/.test(p)) return { percent: Number(p.replace('%', '')), holdSeconds };
    if (/^[A-Za-z0-9_.-]+(\+[A-Za-z0-9_.-]+)*$/.test(p)) return { stores: p.split('+'), holdSeconds };
    throw new CliError('CLI_ERR_USAGE', `bad wave "${p}": a percent (50) or stores joined by + (s1+s2)`);
  });
}

function printRollout(r: Rollout): void {
  console.log(
    `rollout ${r.id}: ${r.model}@${r.version} ${r.state} (wave ${r.currentWave + 1}/${r.waves.length})`,
  );
  if (r.reason) console.log(`reason: ${r.reason}`);
  printTable(
    ['STORE', 'WAVE', 'STATE', 'NODES'],
    r.stores.map((s) => [
      s.storeId,
      String(s.wave + 1),
      s.state,
      s.nodes
        .map((n) => `${n.nodeId}:${n.state}${n.reportedVersion ? `@${n.reportedVersion}` : ''}`)
        .join(' '),
    ]),
  );
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
