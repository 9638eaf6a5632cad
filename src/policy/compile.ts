/**
 * AST → closures. Evaluation is three-valued: a criterion is true, false, or
 * undecided. Undecided means it reads the session and there is none
 * ("unauthenticated"), or it reads a user fact the identity lists as unknown
 * (groups cut at a cap, a machine token's email/user/groups: see
 * `UnknownFacts`). The two never meet in one evaluation: unknown facts exist
 * only on an identity. Either way no request gets in through `not`/`nor`, and
 * none slips past a deny rule that asks about what gatehouse does not know.
 *
 * Operators (Pomerium's meaning, kept exactly; Kleene logic for undecided):
 *   and: all hold    or: some holds    not: none holds (¬A∧¬B)    nor: not all hold (¬A∨¬B)
 *
 * The decision ladder, in order:
 *   1. a deny block holds                   → deny  (deny-matched)
 *   2. a deny block is undecided            → login when anonymous (cannot rule the deny out);
 *                                             else deny (deny-unknown), naming the unknown fact and why
 *   3. an allow block holds                 → allow
 *   4. an allow block is undecided          → login when anonymous; else it does not allow (step 5)
 *   5. otherwise                            → deny  (not-allowed), naming the unknown fact of an
 *                                             undecided allow rule, else the closest allow rule's failing criterion
 */
import type { Clause, Operator, PolicyAst, RuleNode } from './ast.js'
import { findCriterion, type CompiledCriterion } from './criteria/index.js'
import { PolicyError } from './errors.js'
import type { CompiledPolicy, CriterionTrace, Decision, Identity, RequestFacts, RuleTrace } from './types.js'

const F = 0
const T = 1
const U = 2 // undecided: no session, or an unknown user fact
type Tri = 0 | 1 | 2

interface CClause {
  readonly operator: Operator
  readonly criteria: readonly CompiledCriterion[]
}

interface CRule {
  readonly index: number
  readonly action: 'allow' | 'deny'
  readonly clauses: readonly CClause[]
}

function compileCriterion(name: string, value: unknown): CompiledCriterion {
  const def = findCriterion(name)
  const c = def?.compile(value, name, (message) => {
    throw new PolicyError('POLICY_BAD_VALUE', `${name}: ${message}`)
  })
  if (c === undefined) throw new PolicyError('POLICY_UNKNOWN_CRITERION', `unknown criterion "${name}"`)
  return c
}

function crit(c: CompiledCriterion, who: Identity | undefined, req: RequestFacts, now: number): Tri {
  if (c.needsSession) {
    if (who === undefined) return U
    // One property read on the hot path: `unknown` is absent for almost every identity.
    const unknown = who.unknown
    if (unknown !== undefined && c.fact !== undefined && unknown[c.fact] !== undefined) return U
  }
  return c.test(who, req, now) ? T : F
}

/** Why an undecided criterion is undecided, in words. */
function undecided(c: CompiledCriterion, who: Identity | undefined): string {
  if (who === undefined) return `${c.name}: needs a signed-in user`
  const why = c.fact === undefined ? undefined : who.unknown?.[c.fact]
  return `${c.name} cannot be judged: ${why ?? 'unknown'}`
}

/** The first criterion that leaves an undecided rule undecided. */
function undecidedIn(r: CRule, who: Identity | undefined, req: RequestFacts, now: number): CompiledCriterion | undefined {
  for (const cl of r.clauses) {
    if (clause(cl, who, req, now) !== U) continue
    for (const c of cl.criteria) if (crit(c, who, req, now) === U) return c
  }
  return undefined
}

function clause(cl: CClause, who: Identity | undefined, req: RequestFacts, now: number): Tri {
  let sawU = false
  const cs = cl.criteria
  switch (cl.operator) {
    case 'and':
      for (const c of cs) {
        const v = crit(c, who, req, now)
        if (v === F) return F
        if (v === U) sawU = true
      }
      return sawU ? U : T
    case 'or':
      for (const c of cs) {
        const v = crit(c, who, req, now)
        if (v === T) return T
        if (v === U) sawU = true
      }
      return sawU ? U : F
    case 'not':
      for (const c of cs) {
        const v = crit(c, who, req, now)
        if (v === T) return F
        if (v === U) sawU = true
      }
      return sawU ? U : T
    case 'nor':
      for (const c of cs) {
        const v = crit(c, who, req, now)
        if (v === F) return T
        if (v === U) sawU = true
      }
      return sawU ? U : F
  }
}

function rule(r: CRule, who: Identity | undefined, req: RequestFacts, now: number): Tri {
  let sawU = false
  for (const cl of r.clauses) {
    const v = clause(cl, who, req, now)
    if (v === F) return F
    if (v === U) sawU = true
  }
  return sawU ? U : T
}

/**
 * With several allow rules and none holding, the one that came closest (the
 * largest share of its criteria pointing the right way) explains the denial
 * best: `http_method: "POST" is not in [GET, HEAD]` rather than the first
 * rule's unrelated `cors_preflight`. Only on the deny path.
 */
function closest(allows: readonly CRule[], who: Identity | undefined, req: RequestFacts, now: number): CRule | undefined {
  if (allows.length <= 1) return allows[0]
  let best: CRule | undefined
  let bestScore = -1
  for (const r of allows) {
    let good = 0
    let total = 0
    for (const cl of r.clauses) {
      const want = cl.operator === 'and' || cl.operator === 'or' ? T : F
      for (const c of cl.criteria) {
        total++
        if (crit(c, who, req, now) === want) good++
      }
    }
    const score = total === 0 ? 0 : good / total
    if (score > bestScore) {
      best = r
      bestScore = score
    }
  }
  return best
}

/** The criterion that decided a block's value, for the reason sentence. */
function decisive(r: CRule, who: Identity | undefined, req: RequestFacts, now: number, want: Tri): { c: CompiledCriterion; v: Tri } | undefined {
  for (const cl of r.clauses) {
    const cv = clause(cl, who, req, now)
    if (want === F && cv !== F) continue
    for (const c of cl.criteria) {
      const v = crit(c, who, req, now)
      // and: a false criterion; or: (all false) the first; not: a true criterion; nor: (all true) the first.
      if (cl.operator === 'and' && v === F) return { c, v }
      if (cl.operator === 'not' && v === T) return { c, v }
      if (want === T && (cl.operator === 'or' ? v === T : cl.operator === 'nor' ? v === F : false)) return { c, v }
    }
    const first = cl.criteria[0]
    if (first !== undefined) return { c: first, v: crit(first, who, req, now) }
  }
  return undefined
}

function sentence(c: CompiledCriterion, v: Tri, who: Identity | undefined, req: RequestFacts, now: number, op: Operator | undefined): string {
  if (v === U) return undecided(c, who)
  const base = c.describe(who, req, now, v === T)
  return op === 'not' && v === T ? `${base}, and the rule says none of these may hold` : base
}

/** `groups; your value: [eng]`: the criterion and the caller's own value, nothing of the policy's. */
function ownText(c: CompiledCriterion, who: Identity | undefined, req: RequestFacts, now: number): string {
  const own = c.own?.(who, req, now)
  return own === undefined ? c.name : `${c.name}; your value: ${own}`
}

function opOf(r: CRule, c: CompiledCriterion): Operator | undefined {
  for (const cl of r.clauses) if (cl.criteria.includes(c)) return cl.operator
  return undefined
}

export function compilePolicy(ast: PolicyAst): CompiledPolicy {
  const rules: CRule[] = []
  ast.rules.forEach((nodes, index) => {
    for (const n of nodes)
      rules.push({
        index,
        action: n.action,
        clauses: n.clauses.map((cl: Clause) => ({ operator: cl.operator, criteria: cl.criteria.map((c) => compileCriterion(c.name, c.value)) })),
      })
  })
  const allows = rules.filter((r) => r.action === 'allow')
  const denies = rules.filter((r) => r.action === 'deny')
  const needsSession = rules.some((r) => r.clauses.some((cl) => cl.criteria.some((c) => c.needsSession)))
  const readsFacts = new Set(rules.flatMap((r) => r.clauses.flatMap((cl) => cl.criteria.flatMap((c) => (c.fact === undefined ? [] : [c.fact])))))
  const noAllowRule: Decision = Object.freeze({
    outcome: 'deny',
    because: 'not-allowed',
    rule: -1,
    criterion: '',
    reason: 'the route has no allow rule, so no one is let in',
    publicReason: 'the route has no allow rule, so no one is let in',
  })
  const allowDecisions = new Map<number, Decision>()
  for (const r of allows) allowDecisions.set(r.index, Object.freeze({ outcome: 'allow', reason: `allow rule ${r.index} matched` }))
  const loginDecision: Decision = Object.freeze({ outcome: 'login', reason: 'sign in first: this route needs to know who you are' })

  function evaluate(who: Identity | undefined, req: RequestFacts, now: number): Decision {
    let denyUndecided: CRule | undefined
    for (const r of denies) {
      const v = rule(r, who, req, now)
      if (v === T) {
        const d = decisive(r, who, req, now, T)
        const why = d === undefined ? '' : `: ${sentence(d.c, d.v, who, req, now, opOf(r, d.c))}`
        return {
          outcome: 'deny',
          because: 'deny-matched',
          rule: r.index,
          criterion: d?.c.name ?? '',
          reason: `deny rule ${r.index} matched${why}`,
          publicReason: `a deny rule applies${d === undefined ? '' : ` (${ownText(d.c, who, req, now)})`}`,
        }
      }
      if (v === U && denyUndecided === undefined) denyUndecided = r
    }
    if (denyUndecided !== undefined) {
      if (who === undefined) return loginDecision
      // Fail closed: a deny that cannot be ruled out denies.
      const c = undecidedIn(denyUndecided, who, req, now)
      return {
        outcome: 'deny',
        because: 'deny-unknown',
        rule: denyUndecided.index,
        criterion: c?.name ?? '',
        reason: `deny rule ${denyUndecided.index} cannot be ruled out: ${c === undefined ? 'a fact is unknown' : undecided(c, who)}`,
        publicReason: `a deny rule cannot be ruled out: ${c === undefined ? 'a fact is unknown' : undecided(c, who)}`,
      }
    }
    let allowUndecided: CRule | undefined
    for (const r of allows) {
      const v = rule(r, who, req, now)
      if (v === T) return allowDecisions.get(r.index) as Decision
      if (v === U && allowUndecided === undefined) allowUndecided = r
    }
    if (allowUndecided !== undefined) {
      if (who === undefined) return loginDecision
      // An allow that reads an unknown fact does not allow; its reason beats a plain mismatch elsewhere.
      const c = undecidedIn(allowUndecided, who, req, now)
      const reason = c === undefined ? `allow rule ${allowUndecided.index} cannot be decided` : undecided(c, who)
      return {
        outcome: 'deny',
        because: 'not-allowed',
        rule: allowUndecided.index,
        criterion: c?.name ?? '',
        reason: allows.length > 1 ? `no allow rule matched; rule ${allowUndecided.index}: ${reason}` : reason,
        publicReason: c === undefined ? 'no allow rule could be decided' : undecided(c, who),
      }
    }
    const first = closest(allows, who, req, now)
    if (first === undefined) return noAllowRule
    const d = decisive(first, who, req, now, F)
    const reason = d === undefined ? `allow rule ${first.index} did not match` : sentence(d.c, d.v, who, req, now, opOf(first, d.c))
    return {
      outcome: 'deny',
      because: 'not-allowed',
      rule: first.index,
      criterion: d?.c.name ?? '',
      reason: allows.length > 1 ? `no allow rule matched; closest, rule ${first.index}: ${reason}` : reason,
      publicReason: `no allow rule lets you in${d === undefined ? '' : ` (${ownText(d.c, who, req, now)})`}`,
    }
  }

  function explain(who: Identity | undefined, req: RequestFacts, now: number): { decision: Decision; trace: readonly RuleTrace[] } {
    const trace: RuleTrace[] = []
    for (const r of rules) {
      for (const cl of r.clauses) {
        const criteria: CriterionTrace[] = cl.criteria.map((c) => {
          const v = crit(c, who, req, now)
          return {
            criterion: c.name,
            result: v === U ? (who === undefined ? 'unauthenticated' : 'unknown') : v === T ? 'match' : 'no-match',
            reason: v === U ? undecided(c, who) : c.describe(who, req, now, v === T),
          }
        })
        trace.push({ rule: r.index, action: r.action, operator: cl.operator, matched: clause(cl, who, req, now) === T, criteria })
      }
    }
    return { decision: evaluate(who, req, now), trace }
  }

  return { evaluate, explain, needsSession, readsFacts }
}

/** Surprising but valid constructs, for `gatehouse check`. */
export function warningsFor(ast: PolicyAst): Array<{ at: RuleNode['at']; path: string; message: string }> {
  const out: Array<{ at: RuleNode['at']; path: string; message: string }> = []
  for (const nodes of ast.rules) {
    for (const n of nodes) {
      for (const cl of n.clauses) {
        if (cl.operator === 'nor' && cl.criteria.length > 1) {
          out.push({
            at: cl.at,
            path: cl.path,
            message: `"nor" here means "not all of" (it holds when at least one of its ${cl.criteria.length} criteria fails), as in Pomerium; use "not" for "none of"`,
          })
        }
      }
    }
  }
  return out
}
