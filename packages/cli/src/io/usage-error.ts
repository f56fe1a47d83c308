/**
 * Bad input to a command (a malformed file, an unknown name): the CLI prints
 * the message and exits with status 2, never with a stack trace.
 *
 * @category Commands
 */
export class UsageError extends Error {
  /** The exit status for bad input. */
  readonly exitCode = 2;

  /**
   * @param message - what is wrong and where (file and field).
   */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}
