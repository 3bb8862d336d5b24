/** Errors the CLI reports as one line (`storevision: CODE: message`) with a non-zero exit. */
export const cliErrors = {
  CLI_ERR_USAGE: 2,
  CLI_ERR_UNKNOWN_SCENE: 2,
  CLI_ERR_BAD_SEED: 2,
  CLI_ERR_BAD_SIZE: 2,
  CLI_ERR_BAD_FPS: 2,
  CLI_ERR_OUTPUT_EXISTS: 2,
  CLI_ERR_OUTPUT_UNWRITABLE: 1,
  CLI_ERR_EDGE_UNREACHABLE: 1,
  CLI_ERR_HUB_UNREACHABLE: 1,
  CLI_ERR_FILE_UNREADABLE: 2,
  CLI_ERR_BENCH_CHECK_FAILED: 1,
} as const;

export type CliErrorCode = keyof typeof cliErrors;

export class CliError extends Error {
  readonly exitCode: number;
  constructor(
    readonly code: CliErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'CliError';
    this.exitCode = cliErrors[code];
  }
}
