/**
 * `idp_roles`: the application's roles, each with the IdP groups that grant
 * it, as Konnect's Okta guide maps Okta groups to Konnect roles. A user holds
 * a role when they are in any of its groups; the roles reach the assertion
 * (`roles`), the identity headers (`X-Gatehouse-Claim-Roles`) and the policy
 * (`claim/roles`).
 *
 *   idp_roles:
 *     service_admin: okta-service-admins
 *     viewer: [okta-eng, okta-support]
 */
import { isMap, isScalar, isSeq, type Node } from 'yaml'
import { didYouMean, type PolicyAst } from '../policy/index.js'
import type { Reader } from './reader.js'
import type { RoleGrant } from './types.js'

const KEY = 'idp_roles'

/** The grants in file order, or undefined when the key is absent (or wrong: then a problem says where). */
export function compileRoles(r: Reader, node: Node | undefined, groupsFilter: RegExp | undefined): readonly RoleGrant[] | undefined {
  if (node === undefined) return undefined
  if (!isMap(node)) {
    r.problem(
      node,
      KEY,
      'CONFIG_BAD_TYPE',
      `${KEY} must be a map of role to the groups that grant it${found(node)}`,
      `for example:\n  ${KEY}:\n    admin: okta-admins\n    viewer: [okta-eng, okta-support]`,
    )
    return undefined
  }
  const grants: RoleGrant[] = []
  for (const [role, pair] of r.entries(node)) {
    const path = `${KEY}.${role}`
    if (role.trim() === '' || role !== role.trim()) {
      r.problem(pair.key as Node, path, 'CONFIG_BAD_VALUE', `role name ${JSON.stringify(role)} is empty or has leading or trailing spaces`)
      continue
    }
    const groups = groupList(r, pair.value as Node | null, path)
    if (groups === undefined) continue
    if (groupsFilter !== undefined)
      groups.forEach((g, i) => {
        if (!groupsFilter.test(g))
          r.warn(
            isSeq(pair.value) ? (pair.value.items[i] as Node) : (pair.value as Node),
            path,
            'CONFIG_BAD_VALUE',
            `group "${g}" never grants ${role}: idp_groups_filter drops it before roles are worked out`,
            'widen idp_groups_filter, or name a group it keeps',
          )
      })
    grants.push({ role, groups })
  }
  return grants
}

/** One group name, or a non-empty list of them. */
function groupList(r: Reader, value: Node | null, path: string): string[] | undefined {
  const one = (n: Node | null | undefined, at: string): string | undefined => {
    if (isScalar(n) && typeof n.value === 'string' && n.value.trim() !== '') return n.value.trim()
    if (isScalar(n) && r.unresolved.has(n)) return undefined
    r.problem(n, at, 'CONFIG_BAD_VALUE', `expected a group name${found(n)}`, 'write the group as Okta names it, or a list of groups')
    return undefined
  }
  if (isSeq(value)) {
    if (value.items.length === 0) {
      r.problem(value, path, 'CONFIG_BAD_VALUE', 'no group grants this role', 'list the groups that grant it, or remove the role')
      return undefined
    }
    const out: string[] = []
    let ok = true
    value.items.forEach((item, i) => {
      const g = one(item as Node, `${path}[${i}]`)
      if (g === undefined) ok = false
      else out.push(g)
    })
    return ok ? out : undefined
  }
  const g = one(value, path)
  return g === undefined ? undefined : [g]
}

function found(n: Node | null | undefined): string {
  if (n === null || n === undefined || (isScalar(n) && (n.value === null || n.value === ''))) return ', found nothing'
  if (isMap(n)) return ', found a map'
  if (isSeq(n)) return ', found a list'
  if (isScalar(n)) return `, found ${JSON.stringify(n.value)}`
  return ''
}

/** A warning for each `claim/roles` value in a policy that no idp_roles entry grants: such a rule can never match. */
export function unknownRolesIn(ast: PolicyAst, roles: readonly RoleGrant[]): Array<{ at: { line: number; col: number }; path: string; message: string }> {
  const names = roles.map((g) => g.role)
  const out: Array<{ at: { line: number; col: number }; path: string; message: string }> = []
  for (const rule of ast.rules)
    for (const block of rule)
      for (const clause of block.clauses)
        for (const c of clause.criteria) {
          if (c.name !== 'claim/roles') continue
          for (const v of valuesOf(c.value)) {
            if (names.includes(v)) continue
            const hint = didYouMean(v, names)
            out.push({
              at: c.at,
              path: c.path,
              message: `claim/roles names "${v}", which idp_roles does not grant (${names.length === 0 ? 'it grants none' : `roles: ${names.join(', ')}`})${hint === undefined ? '' : `; ${hint}`}`,
            })
          }
        }
  return out
}

/** The role names a matcher value mentions: `admin`, `{has: admin}`, `{is: [a, b]}`, `{in: [a]}`. */
function valuesOf(value: unknown): string[] {
  if (typeof value === 'string') return [value]
  if (Array.isArray(value)) return value.filter((x): x is string => typeof x === 'string')
  if (typeof value === 'object' && value !== null) return Object.values(value).flatMap(valuesOf)
  return []
}
