/**
 * The Helm chart in charts/storevision: `helm lint` and `helm template` with the default values and
 * with the GPU/OpenYurt/PostgreSQL values file (charts/storevision/ci/gpu-postgres-values.yaml),
 * the rendered manifests parsed and checked for what an operator relies on, every rendered object
 * validated against the Kubernetes API's OpenAPI schemas (the `kubernetes-models` package ships
 * them, generated from Kubernetes' OpenAPI; like kubeconform with schemas in the repo, no cluster
 * needed), and values.schema.json refusing bad values.
 *
 * Needs the `helm` binary: `.tools/bin/helm` (built by scripts/bootstrap.sh from the Go module proxy
 * when `go` is installed) or `helm` on PATH, or HELM=/path/to/helm. Without it the test FAILS with
 * the instruction, it never skips.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { unknownFields } from '../services/orchestrator/src/testing/kube-unknown-fields.ts';

const root = resolve(import.meta.dirname, '..');
const chart = join(root, 'charts', 'storevision');
const gpuValues = join(chart, 'ci', 'gpu-postgres-values.yaml');

function findHelm(): string | undefined {
  const candidates = [
    process.env.HELM,
    join(root, '.tools', 'bin', 'helm'),
    ...(process.env.PATH ?? '').split(delimiter).map((dir) => join(dir, 'helm')),
  ];
  return candidates.find((c): c is string => !!c && existsSync(c));
}

const helmBin = findHelm();
const MISSING =
  'helm is not installed: run `npm run bootstrap` (bash scripts/bootstrap.sh builds it into .tools/bin ' +
  'with `go install helm.sh/helm/v3/cmd/helm@v3.16.4` when Go is installed), or put helm on PATH, or set HELM=/path/to/helm';

function helm(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  if (!helmBin) throw new Error(MISSING);
  const r = spawnSync(helmBin, args, { cwd: root, encoding: 'utf8', timeout: 30_000 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

// biome-ignore lint/suspicious/noExplicitAny: rendered Kubernetes objects are checked field by field.
type K8s = any;

function template(...extra: string[]): K8s[] {
  const r = helm('template', 'sv', chart, '--namespace', 'retail', ...extra);
  expect(r.status, r.stderr).toBe(0);
  const docs = parseAllDocuments(r.stdout);
  for (const d of docs) expect(d.errors, String(d.errors)).toEqual([]);
  return docs.map((d) => d.toJS()).filter((o) => o && typeof o === 'object');
}

const ofKind = (objs: K8s[], kind: string): K8s[] => objs.filter((o) => o.kind === kind);
const named = (objs: K8s[], kind: string, name: string): K8s => {
  const o = objs.find((x) => x.kind === kind && x.metadata?.name === name);
  expect(o, `${kind}/${name} rendered`).toBeDefined();
  return o;
};
const container = (workload: K8s, name: string): K8s => {
  const c = workload.spec.template.spec.containers.find((x: K8s) => x.name === name);
  expect(c, `container ${name} in ${workload.metadata.name}`).toBeDefined();
  return c;
};

/**
 * Validates one rendered object with the `kubernetes-models` class of its apiVersion and kind
 * (`kubernetes-models/<group>/<version>/<Kind>`, the core group as `v1`); returns the errors.
 */
async function validateObject(o: K8s): Promise<string | undefined> {
  const [group, version] = String(o.apiVersion).includes('/')
    ? o.apiVersion.split('/')
    : [undefined, o.apiVersion];
  const spec = `kubernetes-models/${group ? `${group}/` : ''}${version}/${o.kind}`;
  let Model: new (data: K8s) => { validate(): void };
  try {
    Model = (await import(spec))[o.kind];
  } catch {
    return `${o.kind}/${o.metadata?.name}: no schema for ${o.apiVersion} ${o.kind}`;
  }
  try {
    new Model(o).validate();
    return undefined;
  } catch (err) {
    return `${o.kind}/${o.metadata?.name}: ${(err as Error).message}`;
  }
}

describe('helm chart charts/storevision', () => {
  it('has helm available (else run the bootstrap)', () => {
    expect(helmBin, MISSING).toBeDefined();
  });

  it('passes helm lint with the default values and with the GPU/PostgreSQL values file', () => {
    for (const args of [[], ['-f', gpuValues]]) {
      const r = helm('lint', chart, '--strict', ...args);
      expect(r.status, r.stdout + r.stderr).toBe(0);
    }
  });

  describe('default values', () => {
    let objs: K8s[] = [];
    beforeAll(() => {
      if (helmBin) objs = template();
    });

    it('renders hub (Deployment, Service, PVC), orchestrator and one edge DaemonSet per pool', () => {
      expect(helmBin, MISSING).toBeDefined();
      const hub = named(objs, 'Deployment', 'sv-storevision-hub');
      expect(container(hub, 'hub').command).toEqual([
        '/usr/bin/tini',
        '--',
        'node',
        'packages/cli/bin/storevision.js',
        'hub',
      ]);
      expect(named(objs, 'Service', 'sv-storevision-hub').spec.ports[0].port).toBe(8090);
      expect(
        named(objs, 'PersistentVolumeClaim', 'sv-storevision-hub-data').spec.resources.requests.storage,
      ).toBe('20Gi');
      // SQLite on the volume by default: no database Secret, no HUB_DATABASE_URL.
      expect(ofKind(objs, 'Secret')).toEqual([]);
      expect(container(hub, 'hub').env ?? []).not.toContainEqual(
        expect.objectContaining({ name: 'HUB_DATABASE_URL' }),
      );
      const orch = named(objs, 'Deployment', 'sv-storevision-orchestrator');
      expect(container(orch, 'orchestrator').args.some((a: string) => a.startsWith('--backend'))).toBe(false);
      expect(ofKind(objs, 'DaemonSet').map((d) => d.metadata.name)).toEqual(['sv-storevision-edge-store-1']);
    });

    it('runs what the Dockerfile builds: its working dir, its user, a command that is in it', () => {
      // The image itself is not built here (no Docker engine on this project's machines); this
      // keeps the chart and the Dockerfile saying the same thing.
      expect(helmBin, MISSING).toBeDefined();
      const docker = readFileSync(join(root, 'Dockerfile'), 'utf8');
      const workdirs = [...docker.matchAll(/^WORKDIR (\S+)$/gm)].map((m) => m[1]);
      const user = /^USER (\d+):(\d+)$/m.exec(docker);
      const workloads = [...ofKind(objs, 'Deployment'), ...ofKind(objs, 'DaemonSet')];
      const ours = workloads.flatMap((w) =>
        w.spec.template.spec.containers
          .filter((c: K8s) => c.image.startsWith('ghcr.io/storevision/'))
          .map((c: K8s) => ({ c, pod: w.spec.template.spec })),
      );
      expect(ours.map(({ c }) => c.name).sort()).toEqual(['edge', 'hub', 'orchestrator']);
      for (const { c, pod } of ours) {
        expect(workdirs.at(-1)).toBe(c.workingDir);
        expect([Number(user?.[1]), Number(user?.[2])]).toEqual([
          pod.securityContext.runAsUser,
          pod.securityContext.runAsGroup,
        ]);
        // tini as PID 1 (reaps what the edge leaves behind, forwards signals): the image's
        // ENTRYPOINT, named again because a Kubernetes `command` replaces it.
        expect(c.command.slice(0, 4)).toEqual([
          '/usr/bin/tini',
          '--',
          'node',
          'packages/cli/bin/storevision.js',
        ]);
        expect(existsSync(join(root, c.command[3]))).toBe(true);
      }
      // npm ci in the image needs every workspace's package.json before the sources are copied.
      const rootPkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
      const workspaces = (rootPkg.workspaces as string[]).flatMap((w) =>
        w.endsWith('/*')
          ? readdirSync(join(root, w.slice(0, -2)), { withFileTypes: true })
              .filter(
                (d) => d.isDirectory() && existsSync(join(root, w.slice(0, -2), d.name, 'package.json')),
              )
              .map((d) => `${w.slice(0, -2)}/${d.name}`)
          : [w],
      );
      expect(workspaces.length).toBeGreaterThan(5);
      for (const w of workspaces) expect(docker).toContain(`COPY ${w}/package.json ${w}/`);
      expect(readFileSync(join(root, '.dockerignore'), 'utf8')).toMatch(/^\*\*\/node_modules$/m);
      expect(docker).toMatch(/apt-get install[^\n]*\btini\b/);
      expect(docker).toContain(
        'ENTRYPOINT ["/usr/bin/tini", "--", "node", "packages/cli/bin/storevision.js"]',
      );
    });

    it('probes every service on /readyz (readiness) and /healthz (liveness), with resources set', () => {
      expect(helmBin, MISSING).toBeDefined();
      const workloads = [...ofKind(objs, 'Deployment'), ...ofKind(objs, 'DaemonSet')];
      expect(workloads).toHaveLength(3);
      for (const w of workloads) {
        const c = w.spec.template.spec.containers[0];
        expect(c.readinessProbe.httpGet.path, w.metadata.name).toBe('/readyz');
        expect(c.livenessProbe.httpGet.path, w.metadata.name).toBe('/healthz');
        expect(c.readinessProbe.httpGet.port).toBe('http');
        for (const ct of w.spec.template.spec.containers) {
          expect(ct.resources.requests.cpu, `${w.metadata.name}/${ct.name}`).toBeDefined();
          expect(ct.resources.limits.memory, `${w.metadata.name}/${ct.name}`).toBeDefined();
        }
      }
    });

    it('schedules the edge on its OpenYurt node pool, with a loopback Redis sidecar', () => {
      expect(helmBin, MISSING).toBeDefined();
      const ds = named(objs, 'DaemonSet', 'sv-storevision-edge-store-1');
      const pod = ds.spec.template.spec;
      expect(pod.nodeSelector).toEqual({ 'apps.openyurt.io/nodepool': 'store-1' });
      const edge = container(ds, 'edge');
      const env = Object.fromEntries(edge.env.map((e: K8s) => [e.name, e.value ?? e.valueFrom]));
      expect(env.EDGE_REDIS_URL).toBe('redis://127.0.0.1:6379');
      expect(env.EDGE_NODE_POOL).toBe('store-1');
      expect(env.EDGE_NODE_ID).toBe('$(NODE_NAME)');
      expect(env.EDGE_ORCHESTRATOR_URL).toBe('http://sv-storevision-orchestrator.retail.svc:8070');
      expect(env.EDGE_HUB_URL).toBe('http://sv-storevision-hub.retail.svc:8090');
      const redis = container(ds, 'redis');
      expect(redis.args).toEqual(expect.arrayContaining(['--bind', '127.0.0.1', '--appendonly', 'yes']));
      expect(pod.hostNetwork ?? false).toBe(false);
      expect(JSON.stringify(ds)).not.toContain('nvidia.com/gpu');
    });

    it('gives the orchestrator get/list/watch on Nodes and write access to ConfigMaps', () => {
      expect(helmBin, MISSING).toBeDefined();
      const [clusterRole] = ofKind(objs, 'ClusterRole');
      expect(clusterRole.rules).toContainEqual({
        apiGroups: [''],
        resources: ['nodes'],
        verbs: ['get', 'list', 'watch'],
      });
      const [role] = ofKind(objs, 'Role');
      const cm = role.rules.find((r: K8s) => r.resources.includes('configmaps'));
      // What the Kubernetes backend's assignment ConfigMaps need, and no more (no watch, no patch).
      expect(cm.verbs).toEqual(['get', 'list', 'create', 'update', 'delete']);
      const sa = named(objs, 'ServiceAccount', 'sv-storevision-orchestrator');
      const orch = named(objs, 'Deployment', 'sv-storevision-orchestrator');
      expect(orch.spec.template.spec.serviceAccountName).toBe(sa.metadata.name);
      for (const binding of [...ofKind(objs, 'ClusterRoleBinding'), ...ofKind(objs, 'RoleBinding')]) {
        expect(binding.subjects).toEqual([
          { kind: 'ServiceAccount', name: sa.metadata.name, namespace: 'retail' },
        ]);
      }
    });

    it('keeps frames inside the store with a NetworkPolicy per pool', () => {
      expect(helmBin, MISSING).toBeDefined();
      const [np, ...rest] = ofKind(objs, 'NetworkPolicy');
      expect(rest).toEqual([]);
      expect(np.spec.policyTypes).toEqual(['Ingress', 'Egress']);
      expect(np.spec.podSelector.matchLabels['storevision.io/nodepool']).toBe('store-1');
      const ingressPeers = np.spec.ingress.flatMap((r: K8s) => r.from);
      expect(ingressPeers).toContainEqual({ ipBlock: { cidr: '192.168.0.0/16' } });
      // Every ingress peer is the cameras' range or an edge of the same pool: nothing open to all.
      for (const rule of np.spec.ingress) expect(rule.from?.length).toBeGreaterThan(0);
      const egressTo = np.spec.egress.flatMap((r: K8s) => r.to ?? []);
      const components = egressTo.map((p: K8s) => p.podSelector?.matchLabels['app.kubernetes.io/component']);
      expect(components.sort()).toEqual(['edge', 'hub', 'orchestrator']);
      // The only rule without a destination is DNS.
      for (const rule of np.spec.egress.filter((r: K8s) => !r.to)) {
        expect(rule.ports.map((p: K8s) => p.port)).toEqual([53, 53]);
      }
    });
  });

  describe('GPU pool + PostgreSQL secret values', () => {
    let objs: K8s[] = [];
    beforeAll(() => {
      if (helmBin) objs = template('-f', gpuValues);
    });

    it('renders one DaemonSet per pool, and only the GPU pool requests nvidia.com/gpu', () => {
      expect(helmBin, MISSING).toBeDefined();
      const dss = ofKind(objs, 'DaemonSet');
      expect(dss.map((d) => d.spec.template.spec.nodeSelector['apps.openyurt.io/nodepool'])).toEqual([
        'store-hz-001',
        'store-hz-002-gpu',
      ]);
      const cpu = container(named(objs, 'DaemonSet', 'sv-storevision-edge-store-hz-001'), 'edge');
      expect(cpu.resources.limits['nvidia.com/gpu']).toBeUndefined();
      const gpuDs = named(objs, 'DaemonSet', 'sv-storevision-edge-store-hz-002-gpu');
      const gpu = container(gpuDs, 'edge');
      expect(gpu.resources.requests['nvidia.com/gpu']).toBe(1);
      expect(gpu.resources.limits['nvidia.com/gpu']).toBe(1);
      expect(gpu.resources.limits.cpu).toBe('8');
      // The GPU pool runs the Dockerfile's GPU build (CUDA libraries in it); the others the CPU one.
      expect(gpu.image).toBe('ghcr.io/storevision/storevision:0.1.0-gpu');
      expect(cpu.image).toBe('ghcr.io/storevision/storevision:0.1.0');
      expect(gpuDs.spec.template.spec.tolerations).toContainEqual({
        key: 'nvidia.com/gpu',
        operator: 'Exists',
        effect: 'NoSchedule',
      });
      const env = Object.fromEntries(gpu.env.map((e: K8s) => [e.name, e.value]));
      expect(env.EDGE_STORE_ID).toBe('hz-002');
      expect(env.EDGE_TIMEZONE).toBe('Asia/Shanghai');
    });

    it('runs the orchestrator with the Kubernetes backend: Nodes of OpenYurt pools, ConfigMaps in the release namespace', () => {
      expect(helmBin, MISSING).toBeDefined();
      const orch = named(objs, 'Deployment', 'sv-storevision-orchestrator');
      const c = container(orch, 'orchestrator');
      expect(c.args).toEqual(
        expect.arrayContaining([
          '--backend=kubernetes',
          '--k8s-node-selector=apps.openyurt.io/nodepool',
          '--k8s-store-label=storevision.io/store',
          '--k8s-configmap-prefix=sv-storevision-assignment',
        ]),
      );
      expect(c.env).toContainEqual({
        name: 'POD_NAMESPACE',
        valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } },
      });
      const [role] = ofKind(objs, 'Role');
      expect(role.metadata.namespace ?? 'retail').toBe('retail');
      const [clusterRole] = ofKind(objs, 'ClusterRole');
      expect(clusterRole.rules).toContainEqual({
        apiGroups: [''],
        resources: ['nodes'],
        verbs: ['get', 'list', 'watch'],
      });
    });

    it('reads the hub database URL from the existing Secret and renders no Secret of its own', () => {
      expect(helmBin, MISSING).toBeDefined();
      expect(ofKind(objs, 'Secret')).toEqual([]);
      const hub = container(named(objs, 'Deployment', 'sv-storevision-hub'), 'hub');
      expect(hub.env).toContainEqual({
        name: 'HUB_DATABASE_URL',
        valueFrom: { secretKeyRef: { name: 'storevision-db', key: 'database-url' } },
      });
      expect(JSON.stringify(objs)).not.toContain('postgres://');
    });

    it('lets each pool in only its own cameras, plus the cameras namespace and the metrics scraper', () => {
      expect(helmBin, MISSING).toBeDefined();
      const nps = ofKind(objs, 'NetworkPolicy');
      expect(nps).toHaveLength(2);
      const gpuNp = named(objs, 'NetworkPolicy', 'sv-storevision-edge-store-hz-002-gpu');
      const peers = gpuNp.spec.ingress.flatMap((r: K8s) => r.from);
      expect(peers).toContainEqual({ ipBlock: { cidr: '10.20.2.0/24' } });
      expect(peers).toContainEqual({ ipBlock: { cidr: '10.20.3.0/24' } });
      expect(peers).not.toContainEqual({ ipBlock: { cidr: '10.20.1.0/24' } });
      expect(peers).toContainEqual({
        namespaceSelector: { matchLabels: { 'storevision.io/cameras': 'true' } },
      });
    });
  });

  it('renders a database Secret from hub.database.url', () => {
    expect(helmBin, MISSING).toBeDefined();
    const objs = template('--set', 'hub.database.url=postgres://sv:pw@db:5432/sv');
    const secret = named(objs, 'Secret', 'sv-storevision-hub-database');
    expect(secret.stringData['database-url']).toBe('postgres://sv:pw@db:5432/sv');
    const hub = container(named(objs, 'Deployment', 'sv-storevision-hub'), 'hub');
    expect(hub.env).toContainEqual({
      name: 'HUB_DATABASE_URL',
      valueFrom: { secretKeyRef: { name: 'sv-storevision-hub-database', key: 'database-url' } },
    });
  });

  it.each([
    ['a pool name that is not a DNS label', ['--set', 'edge.nodePools[0].name=Store_1'], 'nodePools.0.name'],
    [
      'zero GPUs',
      ['--set-json', 'edge.nodePools=[{"name":"s1","gpu":{"enabled":true,"count":0}}]'],
      'gpu.count',
    ],
    ['an unknown orchestrator backend', ['--set', 'orchestrator.backend=etcd'], 'orchestrator.backend'],
    ['a misspelt key', ['--set', 'edge.nodepools[0].name=s1'], 'nodepools'],
    [
      'both a database URL and a Secret',
      ['--set', 'hub.database.url=postgres://x', '--set', 'hub.database.existingSecret=db'],
      'hub.database',
    ],
    ['a non-PostgreSQL database URL', ['--set', 'hub.database.url=mysql://x'], 'hub.database.url'],
    ['a port out of range', ['--set', 'edge.port=70000'], 'edge.port'],
  ])('values.schema.json rejects %s', (_what, args, field) => {
    const r = helm('template', 'sv', chart, ...args);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(field);
  });

  describe('rendered manifests validate against the Kubernetes API schemas', () => {
    it.each([
      ['the default values', []],
      ['the GPU/PostgreSQL values file', ['-f', gpuValues]],
    ])('with %s: every object is a valid Kubernetes object', async (_what, args) => {
      const objs = template(...args);
      expect(objs.length).toBeGreaterThan(8);
      const errors = (await Promise.all(objs.map(validateObject))).filter(Boolean);
      expect(errors).toEqual([]);
      // Strict, like kubeconform -strict: no field that the API does not know (a misspelt key).
      expect(objs.flatMap(unknownFields)).toEqual([]);
    });

    it('the validators are not vacuous: they refuse a mistyped field, a misspelt key and an unknown kind', async () => {
      const [deployment] = ofKind(template(), 'Deployment');
      const bad = structuredClone(deployment);
      bad.spec.replicas = 'two';
      expect(await validateObject(bad)).toMatch(/replicas/);
      const noPorts = structuredClone(deployment);
      noPorts.spec.template.spec.containers[0].ports = [{ name: 'http' }];
      expect(await validateObject(noPorts)).toMatch(/containerPort/);
      const typo = structuredClone(deployment);
      typo.spec.template.spec.containers[0].imagePullPolcy = 'Always';
      typo.spec.template.spec.nodeSelectr = {};
      expect(unknownFields(typo)).toEqual([
        'Deployment.spec.template.spec.containers[0].imagePullPolcy',
        'Deployment.spec.template.spec.nodeSelectr',
      ]);
      expect(
        await validateObject({ apiVersion: 'apps/v1', kind: 'Deployent', metadata: { name: 'x' } }),
      ).toMatch(/no schema/);
    });
  });
});
