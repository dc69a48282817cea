/** The base of every error wakegate raises on purpose (errors.ts lists them all). */
export abstract class WakegateError extends Error {
  abstract readonly code: string;
  override get name(): string {
    return this.constructor.name;
  }
}
