import type { Identity, RequestFacts } from '../types.js'
import type { Problem } from '../matchers.js'

export interface CompiledCriterion {
  readonly name: string
  /** Reads the session: with no session it is "unauthenticated", neither true nor false. */
  readonly needsSession: boolean
  /** `who` is defined whenever `needsSession` is true. */
  test(who: Identity | undefined, req: RequestFacts, nowMs: number): boolean
  /** A sentence for reasons: built only on deny, login or explain. */
  describe(who: Identity | undefined, req: RequestFacts, nowMs: number, matched: boolean): string
}

export interface CriterionDef {
  /** The criterion's name, or a prefix ending in "/" (`claim/`). */
  readonly name: string
  readonly needsSession: boolean
  compile(value: unknown, name: string, problem: Problem): CompiledCriterion | undefined
}
