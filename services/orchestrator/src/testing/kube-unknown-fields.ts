import * as k8s from '@kubernetes/client-node';

/**
 * Strict field check of a Kubernetes object, like `kubeconform -strict` or the API server's
 * `fieldValidation=Strict`: walks the object along the typed models of `@kubernetes/client-node`
 * (generated from Kubernetes' OpenAPI; each has an attribute map of its JSON fields) and returns
 * the path of every field no such model declares — a misspelt key that schema validation alone
 * lets through. Free-form parts (maps of strings, quantities, int-or-string) are not descended.
 */
export function unknownFields(obj: unknown): string[] {
  if (!obj || typeof obj !== 'object') return [];
  const o = obj as { apiVersion?: string; kind?: string };
  const version =
    String(o.apiVersion ?? '')
      .split('/')
      .pop() ?? '';
  const type = `${version.charAt(0).toUpperCase()}${version.slice(1)}${o.kind ?? ''}`;
  if (!modelOf(type)) return [`${o.kind}: no model ${type} in @kubernetes/client-node`];
  const out: string[] = [];
  walk(obj, type, o.kind ?? '', out);
  return out;
}

interface Attribute {
  baseName: string;
  type: string;
}
type ModelClass = { getAttributeTypeMap(): Attribute[] };

function modelOf(type: string): ModelClass | undefined {
  const m = (k8s as unknown as Record<string, unknown>)[type] as Partial<ModelClass> | undefined;
  return typeof m?.getAttributeTypeMap === 'function' ? (m as ModelClass) : undefined;
}

function walk(value: unknown, type: string, path: string, out: string[]): void {
  if (value === null || value === undefined) return;
  const array = /^Array<(.+)>$/.exec(type);
  if (array) {
    if (Array.isArray(value)) for (const [i, v] of value.entries()) walk(v, array[1]!, `${path}[${i}]`, out);
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    if (typeof value === 'object')
      for (const [key, v] of Object.entries(value)) walk(v, map[1]!, `${path}.${key}`, out);
    return;
  }
  const model = modelOf(type);
  if (!model || typeof value !== 'object') return;
  const attributes = new Map(model.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  for (const [key, v] of Object.entries(value)) {
    const t = attributes.get(key);
    if (t === undefined) out.push(`${path}.${key}`);
    else walk(v, t, `${path}.${key}`, out);
  }
}
