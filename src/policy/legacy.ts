/**
 * Pomerium's older route keys, turned into rules once, the way Pomerium does:
 *   allow_public_unauthenticated_access → allow: {or: [{accept: true}]}
 *   allow_any_authenticated_user        → allow: {or: [{authenticated_user: true}]}
 *   cors_allow_preflight                → allow: {or: [{cors_preflight: true}]}
 *   allowed_users: [x]                  → allow: {or: [{user: x}, {email: x}]}
 *   allowed_domains: [d]                → allow: {or: [{domain: d}]}
 */
import type { CriterionNode, PolicyAst, RuleNode } from './ast.js'
import type { SourcePosition } from './types.js'

export interface LegacyKeys {
  readonly allowPublicUnauthenticatedAccess?: boolean
  readonly allowAnyAuthenticatedUser?: boolean
  readonly allowedUsers?: readonly string[]
  readonly allowedDomains?: readonly string[]
  readonly corsAllowPreflight?: boolean
}

export function legacyRules(keys: LegacyKeys, at: SourcePosition = { line: 0, col: 0 }, path = 'route'): PolicyAst {
  const rules: RuleNode[][] = []
  const allow = (key: string, criteria: CriterionNode[]): void => {
    if (criteria.length > 0) rules.push([{ action: 'allow', clauses: [{ operator: 'or', criteria, at, path: `${path}.${key}` }], at, path: `${path}.${key}` }])
  }
  const c = (name: string, value: unknown, key: string): CriterionNode => ({ name, value, at, path: `${path}.${key}` })
  if (keys.corsAllowPreflight === true) allow('cors_allow_preflight', [c('cors_preflight', true, 'cors_allow_preflight')])
  if (keys.allowPublicUnauthenticatedAccess === true) allow('allow_public_unauthenticated_access', [c('accept', true, 'allow_public_unauthenticated_access')])
  if (keys.allowAnyAuthenticatedUser === true) allow('allow_any_authenticated_user', [c('authenticated_user', true, 'allow_any_authenticated_user')])
  if (keys.allowedUsers !== undefined)
    allow(
      'allowed_users',
      keys.allowedUsers.flatMap((u) => [c('user', u, 'allowed_users'), c('email', u, 'allowed_users')]),
    )
  if (keys.allowedDomains !== undefined)
    allow(
      'allowed_domains',
      keys.allowedDomains.map((d) => c('domain', d, 'allowed_domains')),
    )
  return { rules }
}

export function concatPolicies(...asts: PolicyAst[]): PolicyAst {
  return { rules: asts.flatMap((a) => a.rules) }
}
