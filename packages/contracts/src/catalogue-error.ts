/** One entry of a service's error catalogue (`errors.ts`): its HTTP status and base message. */
export interface ErrorCatalogueEntry {
  statusCode: number;
  message: string;
}

/**
 * The base of every package's error class (fastify's `lib/errors.js` habit): a stable `code` from
 * the package's own catalogue, the catalogue's HTTP status, and its message plus an optional detail.
 * Each package keeps its catalogue and a subclass named after it (`EdgeError`, `HubError`, …).
 */
export class CatalogueError<C extends string> extends Error {
  readonly code: C;
  readonly statusCode: number;

  constructor(
    catalogue: Readonly<Record<C, ErrorCatalogueEntry>>,
    code: C,
    detail?: string,
    options?: { cause?: unknown },
  ) {
    const base = catalogue[code].message;
    super(detail ? `${base}: ${detail}` : base, options?.cause !== undefined ? { cause: options.cause } : {});
    this.code = code;
    this.statusCode = catalogue[code].statusCode;
  }
}
