import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';

/**
 * A FAKE Kubernetes API server for tests — not a real one (no etcd, no admission, no controllers).
 * It exists because no real API server can run on the machines the tests run on; it speaks the
 * real HTTP API, with real JSON, to the real `@kubernetes/client-node`, for the subset the
 * orchestrator's Kubernetes backend uses, with the API server's semantics where they matter:
 *
 * - one cluster-wide, monotonically increasing `resourceVersion` (as etcd's revision);
 * - `GET /api/v1/nodes` lists with `metadata.resourceVersion`, `labelSelector` (`k=v`, `k==v`,
 *   `k!=v`, `k`, `!k`, `k in (a,b)`, `k notin (a,b)`) and `fieldSelector` (`metadata.name=`);
 * - `?watch=true|1` streams newline-delimited `{type, object}` events (ADDED/MODIFIED/DELETED,
 *   BOOKMARK every `bookmarkIntervalMs` when `allowWatchBookmarks=true`, ERROR with a `Status`),
 *   from `resourceVersion` (replaying what happened after it), or — without one, or with "0" —
 *   from synthetic ADDED events of the current objects; an object that leaves (enters) a watch's
 *   label selector is DELETED (ADDED) for that watch, as the watch cache does; `timeoutSeconds`
 *   ends the stream;
 * - a watch from a resourceVersion older than the retained history (see `compact()`) gets
 *   HTTP 200, then an ERROR event with a 410 `Expired` Status, then the end of the stream;
 * - create / get / replace (PUT, optimistic concurrency: a stale `metadata.resourceVersion` is a
 *   409 `Conflict` Status, none is an unconditional update) / merge-patch / delete of Nodes
 *   (cluster-scoped; `PUT …/status` is the status subresource, the main resource ignores status)
 *   and of ConfigMaps under `/api/v1/namespaces/{ns}/configmaps`; create of an existing name is
 *   a 409 `AlreadyExists`, a missing one a 404 `NotFound`, all as `Status` objects;
 * - a bearer token is required (401 without it).
 *
 * Test controls: `compact()` (expire every resourceVersion up to now), `closeWatches()` (end
 * every watch stream, gracefully or by resetting the connection), `watchesAvailable = false`
 * (new watches get 503, as from an API server that is restarting), `stats`.
 */

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are schemaless JSON here.
type Obj = any;

interface Resource {
  kind: string;
  listKind: string;
  plural: string;
  namespaced: boolean;
  /** key (`ns/name` or `name`) → object */
  objects: Map<string, Obj>;
  /** every change with its resourceVersion and the object before it (for selector transitions) */
  history: Array<{ rv: number; type: 'ADDED' | 'MODIFIED' | 'DELETED'; object: Obj; old?: Obj }>;
  hasStatus: boolean;
}

interface Watcher {
  resource: Resource;
  namespace: string | undefined;
  matches: (o: Obj) => boolean;
  res: http.ServerResponse;
  socket: Socket;
  bookmarks: NodeJS.Timeout | undefined;
  timeout: NodeJS.Timeout | undefined;
}

export interface FakeKubeApiServerOptions {
  /** BOOKMARK interval for watches that allow them. @defaultValue 1000 ms */
  bookmarkIntervalMs?: number;
  /** The bearer token clients must send. @defaultValue 'fake-token' */
  token?: string;
}

class StatusError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: { name?: string; kind?: string },
  ) {
    super(message);
  }
}

export class FakeKubeApiServer {
  readonly stats = {
    requests: 0,
    lists: 0,
    watches: 0,
    /** watches answered with a 410 Expired */
    expired: 0,
    /** 409s for a stale resourceVersion */
    conflicts: 0,
    /** 409s for creating an existing name */
    alreadyExists: 0,
    bookmarks: 0,
  };
  readonly #server: http.Server;
  readonly #sockets = new Set<Socket>();
  readonly #watchers = new Set<Watcher>();
  readonly #bookmarkMs: number;
  readonly #token: string;
  readonly #resources: Record<'nodes' | 'configmaps', Resource>;
  /** While false, new watch requests are answered 503 (an API server restarting or overloaded). */
  watchesAvailable = true;
  #rv = 1000;
  /** Watches from a resourceVersion below this are expired (410). */
  #oldestRv = 0;
  #url = '';

  private constructor(opts: FakeKubeApiServerOptions) {
    this.#bookmarkMs = opts.bookmarkIntervalMs ?? 1000;
    this.#token = opts.token ?? 'fake-token';
    const resource = (kind: string, plural: string, namespaced: boolean, hasStatus: boolean): Resource => ({
      kind,
      listKind: `${kind}List`,
      plural,
      namespaced,
      objects: new Map(),
      history: [],
      hasStatus,
    });
    this.#resources = {
      nodes: resource('Node', 'nodes', false, true),
      configmaps: resource('ConfigMap', 'configmaps', true, false),
    };
    this.#server = http.createServer((req, res) => {
      this.#handle(req, res).catch((err: unknown) => {
        const e =
          err instanceof StatusError ? err : new StatusError(500, 'InternalError', String(err as Error));
        if (!res.headersSent) send(res, e.code, status(e));
        else res.destroy();
      });
    });
    this.#server.on('connection', (s) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
  }

  static async start(opts: FakeKubeApiServerOptions = {}): Promise<FakeKubeApiServer> {
    const f = new FakeKubeApiServer(opts);
    await new Promise<void>((r) => f.#server.listen(0, '127.0.0.1', () => r()));
    f.#url = `http://127.0.0.1:${(f.#server.address() as AddressInfo).port}`;
    return f;
  }

  get url(): string {
    return this.#url;
  }

  /** A KubeConfig pointing at this server (what `~/.kube/config` would hold for it). */
  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'fake', server: this.#url, skipTLSVerify: true }],
      users: [{ name: 'fake', token: this.#token }],
      contexts: [{ name: 'fake', cluster: 'fake', user: 'fake', namespace: 'default' }],
      currentContext: 'fake',
    });
    return kc;
  }

  /** The current resourceVersion of the whole "cluster". */
  get resourceVersion(): string {
    return String(this.#rv);
  }

  /** Forgets the history up to now: a watch from any earlier resourceVersion gets 410 Expired. */
  compact(): void {
    this.#oldestRv = this.#rv;
    for (const r of Object.values(this.#resources)) r.history = [];
  }

  /** Ends every watch stream: gracefully (end of the chunked body) or by resetting the connection. */
  closeWatches(how: 'graceful' | 'reset' = 'graceful'): number {
    const n = this.#watchers.size;
    for (const w of [...this.#watchers]) {
      this.#dropWatcher(w);
      if (how === 'reset') w.socket.destroy();
      else w.res.end();
    }
    return n;
  }

  get openWatches(): number {
    return this.#watchers.size;
  }

  async close(): Promise<void> {
    this.closeWatches('reset');
    for (const s of this.#sockets) s.destroy();
    await new Promise((r) => this.#server.close(r));
  }

  // --- request handling --------------------------------------------------------------------------

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    this.stats.requests++;
    if (req.headers.authorization !== `Bearer ${this.#token}`)
      throw new StatusError(401, 'Unauthorized', 'Unauthorized');
    const url = new URL(req.url ?? '/', 'http://fake');
    const parts = url.pathname.split('/').filter(Boolean);
    // /api/v1/nodes[/name[/status]]  |  /api/v1/namespaces/ns/configmaps[/name]
    if (parts[0] !== 'api' || parts[1] !== 'v1')
      throw new StatusError(404, 'NotFound', `the server could not find the requested resource`);
    let namespace: string | undefined;
    let rest = parts.slice(2);
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      namespace = rest[1];
      rest = rest.slice(2);
    }
    const resource = Object.values(this.#resources).find((r) => r.plural === rest[0]);
    if (!resource || resource.namespaced !== (namespace !== undefined) || rest.length > 3)
      throw new StatusError(404, 'NotFound', `the server could not find the requested resource`);
    const name = rest[1];
    const sub = rest[2];
    if (sub !== undefined && (sub !== 'status' || !resource.hasStatus))
      throw new StatusError(404, 'NotFound', `the server could not find the requested resource`);
    const method = req.method ?? 'GET';
    if (name === undefined) {
      if (method === 'GET') {
        const watch = url.searchParams.get('watch');
        if (watch === 'true' || watch === '1') {
          if (!this.watchesAvailable)
            throw new StatusError(
              503,
              'ServiceUnavailable',
              'the server is currently unable to handle the request',
            );
          return this.#watch(resource, namespace, url, req, res);
        }
        return send(res, 200, this.#list(resource, namespace, url));
      }
      if (method === 'POST') return send(res, 201, this.#create(resource, namespace, await body(req)));
      throw new StatusError(405, 'MethodNotAllowed', `${method} is not supported on ${resource.plural}`);
    }
    const key = namespace ? `${namespace}/${name}` : name;
    switch (method) {
      case 'GET':
        return send(res, 200, this.#get(resource, key, name));
      case 'PUT':
        return send(res, 200, this.#replace(resource, key, name, await body(req), sub === 'status'));
      case 'PATCH': {
        const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
        if (type !== 'application/merge-patch+json' && type !== 'application/strategic-merge-patch+json')
          throw new StatusError(
            415,
            'UnsupportedMediaType',
            `the fake API server supports merge patches only, not ${type || 'no content type'}`,
          );
        const current = this.#get(resource, key, name);
        const patched = mergePatch(structuredClone(current), await body(req));
        patched.metadata.resourceVersion ??= current.metadata.resourceVersion;
        return send(res, 200, this.#replace(resource, key, name, patched, sub === 'status'));
      }
      case 'DELETE': {
        const text = await rawBody(req);
        const options = text ? parseJson(text) : {};
        return send(res, 200, this.#delete(resource, key, name, options?.preconditions));
      }
      default:
        throw new StatusError(405, 'MethodNotAllowed', `${method} is not supported`);
    }
  }

  #list(resource: Resource, namespace: string | undefined, url: URL): Obj {
    this.stats.lists++;
    const matches = selector(url);
    const items = [...resource.objects.values()]
      .filter((o) => (namespace === undefined || o.metadata.namespace === namespace) && matches(o))
      .sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
    return {
      kind: resource.listKind,
      apiVersion: 'v1',
      metadata: { resourceVersion: String(this.#rv) },
      items,
    };
  }

  #watch(
    resource: Resource,
    namespace: string | undefined,
    url: URL,
    req: http.IncomingMessage,
    res: http.ServerResponse,
  ): void {
    this.stats.watches++;
    const matches = selector(url);
    const inNs = (o: Obj) => namespace === undefined || o.metadata.namespace === namespace;
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    const rvParam = url.searchParams.get('resourceVersion') ?? '';
    const write = (e: Obj) => res.write(`${JSON.stringify(e)}\n`);
    if (rvParam === '' || rvParam === '0') {
      for (const o of resource.objects.values())
        if (inNs(o) && matches(o)) write({ type: 'ADDED', object: o });
    } else {
      const from = Number(rvParam);
      if (!Number.isInteger(from) || from < this.#oldestRv) {
        this.stats.expired++;
        write({
          type: 'ERROR',
          object: status(
            new StatusError(410, 'Expired', `too old resource version: ${rvParam} (${this.#oldestRv})`),
          ),
        });
        res.end();
        return;
      }
      for (const ev of resource.history) {
        if (ev.rv <= from || !inNs(ev.object)) continue;
        const e = filtered(ev, matches);
        if (e) write(e);
      }
    }
    const w: Watcher = {
      resource,
      namespace,
      matches,
      res,
      socket: req.socket,
      bookmarks: undefined,
      timeout: undefined,
    };
    if (url.searchParams.get('allowWatchBookmarks') === 'true') {
      w.bookmarks = setInterval(() => {
        this.stats.bookmarks++;
        write({
          type: 'BOOKMARK',
          object: { kind: resource.kind, apiVersion: 'v1', metadata: { resourceVersion: String(this.#rv) } },
        });
      }, this.#bookmarkMs);
    }
    const timeoutSeconds = Number(url.searchParams.get('timeoutSeconds') ?? 0);
    if (timeoutSeconds > 0)
      w.timeout = setTimeout(() => {
        this.#dropWatcher(w);
        res.end();
      }, timeoutSeconds * 1000);
    this.#watchers.add(w);
    res.on('close', () => this.#dropWatcher(w));
  }

  #dropWatcher(w: Watcher): void {
    if (w.bookmarks) clearInterval(w.bookmarks);
    if (w.timeout) clearTimeout(w.timeout);
    this.#watchers.delete(w);
  }

  #get(resource: Resource, key: string, name: string): Obj {
    const o = resource.objects.get(key);
    if (!o) throw notFound(resource, name);
    return o;
  }

  #create(resource: Resource, namespace: string | undefined, o: Obj): Obj {
    const name = o?.metadata?.name;
    if (typeof name !== 'string' || !/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(name))
      throw new StatusError(
        422,
        'Invalid',
        `${resource.kind} "${name}" is invalid: metadata.name: Invalid value: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'`,
        { name, kind: resource.plural },
      );
    if (namespace !== undefined && o.metadata.namespace !== undefined && o.metadata.namespace !== namespace)
      throw new StatusError(
        400,
        'BadRequest',
        'the namespace of the provided object does not match the namespace sent on the request',
      );
    const key = namespace ? `${namespace}/${name}` : name;
    if (resource.objects.has(key)) {
      this.stats.alreadyExists++;
      throw new StatusError(409, 'AlreadyExists', `${resource.plural} "${name}" already exists`, {
        name,
        kind: resource.plural,
      });
    }
    const obj = structuredClone(o);
    obj.kind = resource.kind;
    obj.apiVersion = 'v1';
    obj.metadata = {
      ...obj.metadata,
      ...(namespace !== undefined ? { namespace } : {}),
      uid: randomUUID(),
      creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      resourceVersion: String(++this.#rv),
    };
    // Nodes may be created with their status (as the kubelet registers them); later changes of
    // the status go through the status subresource only.
    resource.objects.set(key, obj);
    this.#emit(resource, 'ADDED', obj);
    return obj;
  }

  #replace(resource: Resource, key: string, name: string, o: Obj, statusOnly: boolean): Obj {
    const current = resource.objects.get(key);
    if (!current) throw notFound(resource, name);
    if (o?.metadata?.name !== undefined && o.metadata.name !== name)
      throw new StatusError(
        400,
        'BadRequest',
        `the name of the object (${o.metadata.name}) does not match the name on the URL (${name})`,
      );
    const rv = o?.metadata?.resourceVersion;
    if (rv !== undefined && rv !== '' && rv !== current.metadata.resourceVersion) {
      this.stats.conflicts++;
      throw new StatusError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on ${resource.plural} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
        { name, kind: resource.plural },
      );
    }
    const next = structuredClone(statusOnly ? { ...current, status: o.status } : o);
    if (!statusOnly && resource.hasStatus) next.status = current.status;
    next.kind = resource.kind;
    next.apiVersion = 'v1';
    next.metadata = {
      ...next.metadata,
      ...(statusOnly ? current.metadata : {}),
      name,
      namespace: current.metadata.namespace,
      uid: current.metadata.uid,
      creationTimestamp: current.metadata.creationTimestamp,
    };
    if (next.metadata.namespace === undefined) delete next.metadata.namespace;
    // An update that changes nothing keeps the resourceVersion and emits no event (as the real one).
    const same =
      JSON.stringify({ ...next, metadata: { ...next.metadata, resourceVersion: undefined } }) ===
      JSON.stringify({ ...current, metadata: { ...current.metadata, resourceVersion: undefined } });
    if (same) return current;
    next.metadata.resourceVersion = String(++this.#rv);
    resource.objects.set(key, next);
    this.#emit(resource, 'MODIFIED', next, current);
    return next;
  }

  #delete(
    resource: Resource,
    key: string,
    name: string,
    preconditions?: { resourceVersion?: string; uid?: string },
  ): Obj {
    const current = resource.objects.get(key);
    if (!current) throw notFound(resource, name);
    const rv = preconditions?.resourceVersion;
    const uid = preconditions?.uid;
    if ((rv && rv !== current.metadata.resourceVersion) || (uid && uid !== current.metadata.uid)) {
      this.stats.conflicts++;
      throw new StatusError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on ${resource.plural} "${name}": the precondition failed`,
        { name, kind: resource.plural },
      );
    }
    resource.objects.delete(key);
    const gone = { ...current, metadata: { ...current.metadata, resourceVersion: String(++this.#rv) } };
    this.#emit(resource, 'DELETED', gone, current);
    return gone;
  }

  #emit(resource: Resource, type: 'ADDED' | 'MODIFIED' | 'DELETED', object: Obj, old?: Obj): void {
    const ev = { rv: this.#rv, type, object, ...(old ? { old } : {}) };
    resource.history.push(ev);
    for (const w of this.#watchers) {
      if (w.resource !== resource) continue;
      if (w.namespace !== undefined && object.metadata.namespace !== w.namespace) continue;
      const e = filtered(ev, w.matches);
      if (e) w.res.write(`${JSON.stringify(e)}\n`);
    }
  }
}

/** An event as a watch with this selector sees it (objects entering or leaving it are ADDED/DELETED). */
function filtered(
  ev: { type: 'ADDED' | 'MODIFIED' | 'DELETED'; object: Obj; old?: Obj },
  matches: (o: Obj) => boolean,
): Obj | undefined {
  const now = matches(ev.object);
  if (ev.type !== 'MODIFIED') return now ? { type: ev.type, object: ev.object } : undefined;
  const before = ev.old ? matches(ev.old) : false;
  if (now && before) return { type: 'MODIFIED', object: ev.object };
  if (now) return { type: 'ADDED', object: ev.object };
  if (before) return { type: 'DELETED', object: ev.object };
  return undefined;
}

/** Label and field selectors of a list or watch, as one predicate. */
function selector(url: URL): (o: Obj) => boolean {
  const tests: Array<(o: Obj) => boolean> = [];
  const labels = url.searchParams.get('labelSelector') ?? '';
  for (const req of splitSelector(labels)) {
    const label = (o: Obj, k: string): string | undefined => o.metadata?.labels?.[k];
    const set = /^([^\s!=,()]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(req);
    const notEqual = /^([^\s!=]+)\s*!=\s*(\S*)$/.exec(req);
    const equal = /^([^\s!=]+)\s*==?\s*(\S*)$/.exec(req);
    const absent = /^!\s*(\S+)$/.exec(req);
    const present = /^(\S+)$/.exec(req);
    if (set) {
      const [, k, op, list] = set;
      const values = list!.split(',').map((v) => v.trim());
      tests.push((o) => values.includes(label(o, k!) ?? '\0') === (op === 'in'));
    } else if (notEqual) {
      const [, k, v] = notEqual;
      tests.push((o) => label(o, k!) !== v);
    } else if (equal) {
      const [, k, v] = equal;
      tests.push((o) => label(o, k!) === v);
    } else if (absent) {
      const k = absent[1]!;
      tests.push((o) => label(o, k) === undefined);
    } else if (present) {
      const k = present[1]!;
      tests.push((o) => label(o, k) !== undefined);
    } else throw new StatusError(400, 'BadRequest', `unable to parse requirement: ${req}`);
  }
  const fields = url.searchParams.get('fieldSelector') ?? '';
  for (const req of splitSelector(fields)) {
    const m = /^metadata\.(name|namespace)\s*(==?|!=)\s*(\S*)$/.exec(req);
    if (!m) throw new StatusError(400, 'BadRequest', `field label not supported: ${req}`);
    const [, field, op, v] = m;
    tests.push((o) => (o.metadata?.[field!] === v) === (op !== '!='));
  }
  return (o) => tests.every((t) => t(o));
}

/** Splits a selector on the commas that are not inside `in (…)` lists. */
function splitSelector(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out.map((x) => x.trim()).filter(Boolean);
}

/** RFC 7386 JSON merge patch. */
function mergePatch(target: Obj, patch: Obj): Obj {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out = target && typeof target === 'object' && !Array.isArray(target) ? target : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function status(e: StatusError): Obj {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: e.message,
    reason: e.reason,
    ...(e.details ? { details: e.details } : {}),
    code: e.code,
  };
}

function notFound(resource: Resource, name: string): StatusError {
  return new StatusError(404, 'NotFound', `${resource.plural} "${name}" not found`, {
    name,
    kind: resource.plural,
  });
}

function send(res: http.ServerResponse, code: number, obj: Obj): void {
  const text = JSON.stringify(obj);
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function rawBody(req: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function parseJson(text: string): Obj {
  try {
    return JSON.parse(text);
  } catch {
    throw new StatusError(400, 'BadRequest', 'the body of the request was in an unknown format');
  }
}

async function body(req: http.IncomingMessage): Promise<Obj> {
  return parseJson(await rawBody(req));
}
