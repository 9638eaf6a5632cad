/**
 * The policy language (Pomerium's PPL), pure: no I/O, nothing of gatehouse's
 * but its own types.
 *
 * A policy is a list of rules. A rule has `allow` and/or `deny`; each holds
 * operators over lists of criteria; a criterion is a one-key map.
 *
 *   policy:
 *     - allow:
 *         and:
 *           - groups: admin                       # list matcher: has
 *           - http_method: {in: [GET, HEAD]}      # string matcher
 *     - deny:
 *         or:
 *           - source_ip: 203.0.113.0/24
 *
 * All allow blocks are OR-ed, all deny blocks are OR-ed; access needs some
 * allow and no deny. `not` means none of; `nor` means not all of.
 * The full reference is docs/policy.md.
 */
import { LineCounter, parseDocument, type Node } from 'yaml'
import type { PolicyAst } from './ast.js'
import type { PolicyErrorCode } from './errors.js'
import { parsePolicy, type ParseContext } from './parse.js'
import type { SourcePosition } from './types.js'

export { parsePolicy, type ParseContext } from './parse.js'
export { compilePolicy, warningsFor } from './compile.js'
export { legacyRules, concatPolicies, type LegacyKeys } from './legacy.js'
export { PolicyError, POLICY_ERROR_CODES, type PolicyErrorCode } from './errors.js'
export { CRITERION_NAMES } from './criteria/index.js'
export { emailDomain } from './criteria/session.js'
export { didYouMean, suggest } from './suggest.js'
export type { PolicyAst, RuleNode, Clause, CriterionNode, Operator } from './ast.js'
export type * from './types.js'

export interface PolicyProblem {
  readonly at: SourcePosition
  readonly path: string
  readonly code: PolicyErrorCode
  readonly message: string
  readonly hint?: string
}

/** Parse a policy written as YAML text (tests, tools). */
export function parsePolicyText(text: string, path = 'policy'): { ast: PolicyAst } | { problems: PolicyProblem[] } {
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, { lineCounter, prettyErrors: false })
  const problems: PolicyProblem[] = []
  const positionOf = (node: Node | undefined): SourcePosition => {
    const off = node?.range?.[0]
    return off === undefined ? { line: 1, col: 1 } : lineCounter.linePos(off)
  }
  for (const e of doc.errors)
    problems.push({ at: lineCounter.linePos(e.pos[0]), path, code: 'POLICY_BAD_SHAPE', message: e.message.split('\n')[0] ?? 'invalid YAML' })
  if (problems.length > 0) return { problems }
  const ctx: ParseContext = {
    positionOf,
    report: (p) => problems.push({ at: positionOf(p.node), path: p.path, code: p.code, message: p.message, ...(p.hint === undefined ? {} : { hint: p.hint }) }),
  }
  const root = doc.contents as Node | null
  if (root === null) return { problems: [{ at: { line: 1, col: 1 }, path, code: 'POLICY_BAD_SHAPE', message: 'the policy is empty' }] }
  const ast = parsePolicy(root, path, ctx)
  return ast === undefined || problems.length > 0 ? { problems } : { ast }
}
