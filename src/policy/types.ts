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

/**
 * The facts about a user that a criterion can depend on and that gatehouse may
 * be unable to establish: `email` (and so `domain`), `user`, `groups`, and
 * `roles` (what `idp_roles` grants from the groups, read by `claim/roles`).
 * Any other `claim/<name>` reads what the token says and is always known.
 */
export type UserFact = 'email' | 'user' | 'groups' | 'roles'

/**
 * The facts gatehouse could not establish, each with the sentence a person
 * reads in the denial ("the groups from Okta may be incomplete (100 groups,
 * the claim's cap)", "a machine token has no user"). A fact not listed is
 * known. An unknown fact is never judged: the engine checks this map before
 * any criterion runs, so a criterion cannot forget; an allow on it does not
 * allow and a deny on it denies. The value next to it (a list cut at a cap, an
 * unverified address) is still what the IdP sent, for display and headers.
 */
export type UnknownFacts = { readonly [F in UserFact]?: string }

/** What a policy may know about a signed-in user (or an authenticated machine). */
export interface Identity {
  /** Okta user id (`sub`); for a machine token, the client id. */
  readonly sub: string
  readonly email: string | undefined
  readonly name: string | undefined
  /** Group names after `idp_groups_filter` (and the directory, when configured). */
  readonly groups: readonly string[]
  /** Every claim of the ID token / userinfo / access token, for `claim/<name>` (with idp_roles, `roles` is the granted roles). */
  readonly claims: Readonly<Record<string, unknown>>
  /** The roles idp_roles grants from `groups`; absent when idp_roles is not configured. */
  readonly roles?: readonly string[]
  /** Absent (the usual case): every fact is known. */
  readonly unknown?: UnknownFacts
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
      /**
       * `deny-matched`: a deny block matched; `deny-unknown`: a deny block reads a
       * fact gatehouse could not establish, so it cannot be ruled out (fail closed);
       * `not-allowed`: no allow block matched (an allow block that reads an
       * unknown fact does not match).
       */
      readonly because: 'deny-matched' | 'deny-unknown' | 'not-allowed'
      /** Index of the deciding rule in the route's policy list (after legacy keys are folded in), or -1 when the policy has no allow rule at all. */
      readonly rule: number
      /** The deciding criterion's name as written (`groups`, `claim/department`, …), or '' when there is none. */
      readonly criterion: string
      /** One sentence a person understands: `groups: [eng] has no "admin"`. For the log and `explain`. */
      readonly reason: string
      /**
       * What the refused caller may be told: the deciding criterion and the
       * caller's own value (`groups; your value: [eng]`), never the policy's
       * allow-list (emails, groups, CIDRs). For the 403 page and JSON.
       */
      readonly publicReason: string
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
  /**
   * `unauthenticated`: the criterion needs a session and there is none;
   * `unknown`: it reads a fact gatehouse could not establish (the reason says why).
   */
  readonly result: 'match' | 'no-match' | 'unauthenticated' | 'unknown'
  readonly reason: string
}

export interface CompiledPolicy {
  /** Hot path: allocates little, never parses. `nowMs` is epoch milliseconds. */
  evaluate(who: Identity | undefined, req: RequestFacts, nowMs: number): Decision
  /** Same decision plus the rule-by-rule trace. Not for the hot path. */
  explain(who: Identity | undefined, req: RequestFacts, nowMs: number): { decision: Decision; trace: readonly RuleTrace[] }
  /** True when some criterion reads the session (the route needs a session lookup). */
  readonly needsSession: boolean
  /** The user facts some criterion reads (`groups` when a rule names groups). */
  readonly readsFacts: ReadonlySet<UserFact>
}
