import {
  loadConfig,
  ORCH_ENV_VARS,
  OrchestratorConfigError,
  type OrchestratorConfigInput,
  startOrchestrator,
} from '@storevision/orchestrator';
import type { Command } from 'commander';
import { CliError } from '../errors.ts';

/**
 * `storevision orchestrator`: node and camera inventory, placement and failover (state in memory
 * with a JSON snapshot under --data-dir; with `--backend kubernetes` also Node objects as the
 * inventory and assignments written as ConfigMaps). Runs until SIGINT/SIGTERM.
 */
export function registerOrchestrator(program: Command): void {
  program
    .command('orchestrator')
    .description('run the orchestrator: node inventory, camera placement, failover (default port 8070)')
    .option('--port <n>', 'HTTP port (0 picks a free one)', '8070')
    .option('--host <addr>', 'interface to listen on', '0.0.0.0')
    .option('--data-dir <dir>', 'the state snapshot (state.json) lives here', '.data/orchestrator')
    .option('--heartbeat-timeout <ms>', 'a node silent this long is lost and its cameras move', '10000')
    .option('--sweep-interval <ms>', 'how often lost nodes are looked for', '500')
    .option('--headroom <x>', 'share of each node’s capacity and memory left free (0..0.9)', '0.2')
    .option('--max-wait <s>', 'longest long-poll of an assignment', '60')
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent', 'info')
    .option(
      '--hub-url <url>',
      'model hub whose manifests give model requirements (EPs, GPU preference, memory)',
    )
    .option('--hub-token <token>', 'hub token with the viewer role, for --hub-url (or ORCH_HUB_TOKEN)')
    .option(
      '--backend <name>',
      'standalone | kubernetes (Nodes from the cluster via $KUBECONFIG or the pod service account; assignments also as ConfigMaps)',
      'standalone',
    )
    .option(
      '--k8s-namespace <ns>',
      'kubernetes backend: namespace of the assignment ConfigMaps (default $POD_NAMESPACE, else default)',
    )
    .option(
      '--k8s-node-selector <sel>',
      'kubernetes backend: label selector of the store Nodes (default: all Nodes)',
    )
    .option(
      '--k8s-store-label <key>',
      'kubernetes backend: the Node label naming its store',
      'storevision.io/store',
    )
    .option(
      '--k8s-configmap-prefix <p>',
      'kubernetes backend: ConfigMaps are named <p>-<node>',
      'storevision-assignment',
    )
    .addHelpText(
      'after',
      `\nEvery option can also come from the environment: ${ORCH_ENV_VARS.join(', ')}.\n` +
        'Options given here win over the environment.\n\nExample:\n' +
        '  storevision orchestrator --port 8070 --heartbeat-timeout 10000\n' +
        '  storevision orchestrator --backend kubernetes --k8s-namespace retail --k8s-node-selector apps.openyurt.io/nodepool\n' +
        '  storevision edge --port 8081 --node-id s1-a --store-id s1 --orchestrator-url http://127.0.0.1:8070',
    )
    .action(async (o, cmd: Command) => {
      const given = (name: string) => cmd.getOptionValueSource(name) === 'cli';
      const pick = <K extends keyof OrchestratorConfigInput>(
        key: K,
        option: string,
        env: string,
        map: (v: string) => OrchestratorConfigInput[K],
      ) => (given(option) || (!process.env[env] && o[option] !== undefined) ? { [key]: map(o[option]) } : {});
      let config: ReturnType<typeof loadConfig>;
      try {
        config = loadConfig(process.env, {
          ...pick('port', 'port', 'ORCH_PORT', Number),
          ...pick('host', 'host', 'ORCH_HOST', String),
          ...pick('dataDir', 'dataDir', 'ORCH_DATA_DIR', String),
          ...pick('heartbeatTimeoutMs', 'heartbeatTimeout', 'ORCH_HEARTBEAT_TIMEOUT_MS', Number),
          ...pick('sweepIntervalMs', 'sweepInterval', 'ORCH_SWEEP_INTERVAL_MS', Number),
          ...pick('headroom', 'headroom', 'ORCH_HEADROOM', Number),
          ...pick('maxWaitSeconds', 'maxWait', 'ORCH_MAX_WAIT_SECONDS', Number),
          ...pick('logLevel', 'logLevel', 'ORCH_LOG_LEVEL', (v) => v as OrchestratorConfigInput['logLevel']),
          ...pick('backend', 'backend', 'ORCH_BACKEND', (v) => v as OrchestratorConfigInput['backend']),
          ...(given('k8sNamespace') ? { k8sNamespace: String(o.k8sNamespace) } : {}),
          ...(given('k8sNodeSelector') ? { k8sNodeSelector: String(o.k8sNodeSelector) } : {}),
          ...pick('k8sStoreLabel', 'k8sStoreLabel', 'ORCH_K8S_STORE_LABEL', String),
          ...pick('k8sConfigMapPrefix', 'k8sConfigmapPrefix', 'ORCH_K8S_CONFIGMAP_PREFIX', String),
          ...(given('hubUrl') ? { hubUrl: String(o.hubUrl) } : {}),
          ...(given('hubToken') ? { hubToken: String(o.hubToken) } : {}),
        });
      } catch (err) {
        if (err instanceof OrchestratorConfigError) throw new CliError('CLI_ERR_USAGE', err.message);
        throw err;
      }
      const running = await startOrchestrator(config);
      const backend =
        config.backend === 'kubernetes'
          ? `kubernetes: Nodes${config.k8sNodeSelector ? ` matching ${config.k8sNodeSelector}` : ''}, ConfigMaps ${config.k8sConfigMapPrefix}-<node> in ${config.k8sNamespace}`
          : 'standalone';
      console.error(
        `storevision orchestrator: listening on ${running.url} (${backend}, state in ${config.dataDir}, heartbeat timeout ${config.heartbeatTimeoutMs} ms)`,
      );
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          console.error(`storevision orchestrator: ${signal}, stopping`);
          running.close().finally(resolve);
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
    });
}
