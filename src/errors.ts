/**
 * The base of every error a user can cause. Each folder declares its own codes
 * (`config/errors.ts`, `policy/errors.ts`, …) as a union and a list; the list is
 * checked against docs/errors.md by a test so the reference cannot drift.
 */
export class GatehouseError<Code extends string = string> extends Error {
  readonly code: Code

  constructor(code: Code, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = new.target.name
  }
}

export function isGatehouseError(err: unknown): err is GatehouseError {
  return err instanceof GatehouseError
}
