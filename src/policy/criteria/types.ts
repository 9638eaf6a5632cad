import type { Identity, RequestFacts, UserFact } from '../types.js'
import type { Problem } from '../matchers.js'

export interface CompiledCriterion {
  readonly name: string
  /** Reads the session: with no session it is "unauthenticated", neither true nor false. */
  readonly needsSession: boolean
  /**
   * The user fact the criterion judges, if any. When the identity lists it as
   * unknown, the engine never calls `test` or `describe`: the criterion is unknown.
   */
  readonly fact: UserFact | undefined
  /** `who` is defined whenever `needsSession` is true. */
  test(who: Identity | undefined, req: RequestFacts, nowMs: number): boolean
  /** A sentence for reasons: built only on deny, login or explain. */
  describe(who: Identity | undefined, req: RequestFacts, nowMs: number, matched: boolean): string
  /**
   * The caller's own value for this criterion (`"bob@example.com"`, `[eng]`,
   * `10.1.2.3`), for the reason a refused caller sees: never the policy's
   * allow-list. Absent for criteria with no value of the caller's (accept, reject).
   */
  own?(who: Identity | undefined, req: RequestFacts, nowMs: number): string
}

export interface CriterionDef {
  /** The criterion's name, or a prefix ending in "/" (`claim/`). */
  readonly name: string
  readonly needsSession: boolean
  compile(value: unknown, name: string, problem: Problem): CompiledCriterion | undefined
}
