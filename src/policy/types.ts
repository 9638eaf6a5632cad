/**
 * The policy engine's public types. This file is the contract between the
 * policy compiler (src/policy), the config loader (src/config) and the
 * request pipeline (src/server). Change it only together with its users.
 */

/** 1-based line and column in the config file. */
export interface SourcePosition {
  readonly line: number
  readonly col: number
}

/** What a policy may know about a signed-in user. */
export interface Identity {
  /** Okta user id (`sub`). */
  readonly sub: string
  readonly email: string | undefined
  readonly name: string | undefined
  /** Group names after `idp_groups_filter` (and the directory, when configured). */
  readonly groups: readonly string[]
  /** Every claim of the ID token / userinfo, for `claim/<name>`. */
  readonly claims: Readonly<Record<string, unknown>>
}

/** What a policy may know about the request. */
export interface RequestFacts {
  /** Upper-case HTTP method. */
  readonly method: string
  /** The normalised path (dot segments resolved, no query): exactly what the upstream receives. */
  readonly path: string
  /** The client address gatehouse believes (after `trusted_proxies`); IPv4, IPv6 or IPv4-mapped IPv6. */
  readonly sourceIp: string
  /** OPTIONS with `Origin` and `Access-Control-Request-Method`. */
  readonly isCorsPreflight: boolean
}

/**
 * The outcome of evaluating a policy.
 * - allow: forward the request.
 * - deny: a signed-in (or anonymous, for session-free criteria) request is refused: 403.
 * - login: a session-dependent criterion met no session: 302 to the IdP (browser) or 401 (API).
 */
export type Decision =
  | { readonly outcome: 'allow'; readonly reason: string }
  | {
      readonly outcome: 'deny'
      /** `deny-matched`: a deny block matched; `not-allowed`: no allow block matched. */
      readonly because: 'deny-matched' | 'not-allowed'
      /** Index of the deciding rule in the route's policy list (after legacy keys are folded in), or -1 when the policy has no allow rule at all. */
      readonly rule: number
      /** The deciding criterion's name as written (`groups`, `claim/department`, …), or '' when there is none. */
      readonly criterion: string
      /** One sentence a person understands: `groups: [eng] has no "admin"`. */
      readonly reason: string
    }
  | { readonly outcome: 'login'; readonly reason: string }

/** One rule's evaluation, for `gatehouse explain` and the 403 page's detail. */
export interface RuleTrace {
  readonly rule: number
  readonly action: 'allow' | 'deny'
  readonly operator: 'and' | 'or' | 'not' | 'nor'
  readonly matched: boolean
  readonly criteria: readonly CriterionTrace[]
}

export interface CriterionTrace {
  readonly criterion: string
  /** `unauthenticated`: the criterion needs a session and there is none. */
  readonly result: 'match' | 'no-match' | 'unauthenticated'
  readonly reason: string
}

export interface CompiledPolicy {
  /** Hot path: allocates little, never parses. `nowMs` is epoch milliseconds. */
  evaluate(who: Identity | undefined, req: RequestFacts, nowMs: number): Decision
  /** Same decision plus the rule-by-rule trace. Not for the hot path. */
  explain(who: Identity | undefined, req: RequestFacts, nowMs: number): { decision: Decision; trace: readonly RuleTrace[] }
  /** True when some criterion reads the session (the route needs a session lookup). */
  readonly needsSession: boolean
}
