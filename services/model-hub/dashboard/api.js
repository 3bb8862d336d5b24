/** The hub API, with the viewer's token from the `sv_token` cookie (sent by the browser itself). */
export class Unauthorized extends Error {}
export class NotFound extends Error {}

export function token() {
  const m = /(?:^|;\s*)sv_token=([^;]+)/.exec(document.cookie);
  return m ? decodeURIComponent(m[1]) : undefined;
}

export function saveToken(value) {
  // biome-ignore lint/suspicious/noDocumentCookie: the Cookie Store API is not in every browser managers use
  document.cookie = `sv_token=${encodeURIComponent(value)}; path=/; SameSite=Strict; max-age=${30 * 86400}`;
}

export function clearToken() {
  // biome-ignore lint/suspicious/noDocumentCookie: as above
  document.cookie = 'sv_token=; path=/; SameSite=Strict; max-age=0';
}

export async function get(path, params = {}) {
  const qs = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== null));
  const res = await fetch(qs.size ? `${path}?${qs}` : path, { headers: { accept: 'application/json' } });
  if (res.status === 401 || res.status === 403) throw new Unauthorized(`${res.status}`);
  const body = await res.json();
  if (res.status === 404) throw new NotFound(`${body.code}: ${body.message}`);
  if (!res.ok) throw new Error(`${body.code}: ${body.message}`);
  return body;
}

/** Like `get`, but a 404 (nothing there yet) resolves null. */
export async function getOrNull(path, params = {}) {
  try {
    return await get(path, params);
  } catch (err) {
    if (err instanceof NotFound) return null;
    throw err;
  }
}
