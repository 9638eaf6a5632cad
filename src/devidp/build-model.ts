/**
 * Input (YAML or code) → the working model. Defaults follow Okta's: a web
 * app gets the authorization-code grant and a persistent refresh token; the
 * `default` custom server exists with audience `api://default`, a `groups`
 * claim and an access policy that lets every client in. Mistakes in the
 * input are collected and thrown together, each with its path.
 */
import { readFileSync } from 'node:fs'
import { parse } from 'yaml'
import type {
  AccessPolicy,
  AppInput,
  ClaimInput,
  ClaimRule,
  DevApp,
  DevGroup,
  DevIdpModel,
  DevIdpModelInput,
  DevServer,
  DevUser,
  GrantType,
  GroupFilter,
  GroupsValue,
  GroupsValueInput,
  PolicyInput,
  ServerInput,
  UserInput,
} from './model.js'

export class DevIdpModelError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`local IdP model: ${problems.join('; ')}`)
    this.name = 'DevIdpModelError'
  }
}

/**
 * The `default` server as a new Okta org has it, plus the groups claim most
 * set-ups add (every group but the built-in Everyone, in the ID token, any scope).
 */
export const DEFAULT_SERVER: ServerInput = {
  id: 'default',
  audience: 'api://default',
  claims: [{ name: 'groups', value: { filter: { regex: '(?!Everyone$).*' } }, include_in: 'id', scopes: 'any' }],
  policies: [{ name: 'Default Policy', clients: 'all', rules: [{ name: 'Default Policy Rule' }] }],
}

const EXPRESSION = /^Groups\.(startsWith|contains|endsWith)\(\s*"([^"]*)"\s*,\s*"([^"]*)"\s*,\s*(\d+)\s*\)$/

export function parseGroupsValue(v: GroupsValueInput, at: string, problems: string[]): GroupsValue {
  if ('expression' in v) {
    const m = EXPRESSION.exec(v.expression.trim())
    if (m === null) {
      problems.push(`${at}.expression: expected Groups.startsWith|contains|endsWith("OKTA", "pattern", limit), found ${JSON.stringify(v.expression)}`)
      return { filter: { kind: 'regex', value: '.*' } }
    }
    return { expression: { fn: m[1] as 'startsWith' | 'contains' | 'endsWith', pattern: m[3] as string, limit: Number(m[4]) } }
  }
  const f = v.filter as Record<string, unknown> | undefined
  const kinds = ['starts_with', 'equals', 'contains', 'regex'] as const
  const kind = kinds.find((k) => typeof f?.[k] === 'string')
  if (kind === undefined) {
    problems.push(`${at}.filter: expected one of ${kinds.join(', ')}`)
    return { filter: { kind: 'regex', value: '.*' } }
  }
  const filter: GroupFilter = { kind, value: f?.[kind] as string }
  if (kind === 'regex') {
    try {
      new RegExp(filter.value)
    } catch {
      problems.push(`${at}.filter.regex: not a regular expression`)
    }
  }
  return { filter }
}

export function buildUser(u: UserInput, i: number): DevUser {
  const id = u.id ?? u.sub ?? `00u${String(i).padStart(4, '0')}${u.username}`.slice(0, 20)
  return {
    id,
    login: u.login ?? u.email,
    username: u.username,
    password: u.password,
    email: u.email,
    emailVerified: u.email_verified ?? true,
    name: u.name ?? u.username,
    groups: [...(u.groups ?? [])],
    status: u.status ?? (u.active === false ? 'DEPROVISIONED' : 'ACTIVE'),
  }
}

function buildApp(a: AppInput, unassigned: ReadonlySet<string>, allUsers: readonly DevUser[], problems: string[], at: string): DevApp {
  const method = a.token_endpoint_auth_method ?? (a.jwks !== undefined ? 'private_key_jwt' : 'client_secret_basic')
  if ((method === 'client_secret_basic' || method === 'client_secret_post') && a.client_secret === undefined)
    problems.push(`${at}: ${method} needs client_secret`)
  if (method === 'private_key_jwt' && a.jwks === undefined) problems.push(`${at}: private_key_jwt needs jwks`)
  if (!Array.isArray(a.redirect_uris)) problems.push(`${at}.redirect_uris: expected a list`)
  let assignments: DevApp['assignments']
  if (a.assignments === undefined || a.assignments === 'everyone') {
    // The older `assigned: false` on a user leaves them out of every app.
    assignments =
      unassigned.size === 0
        ? { everyone: true, users: new Set(), groups: new Set() }
        : { everyone: false, users: new Set(allUsers.filter((u) => !unassigned.has(u.username)).map((u) => u.login)), groups: new Set() }
  } else {
    assignments = { everyone: false, users: new Set(a.assignments.users ?? []), groups: new Set(a.assignments.groups ?? []) }
  }
  const grace = a.refresh_token?.grace_period_seconds ?? 30
  if (grace < 0 || grace > 60) problems.push(`${at}.refresh_token.grace_period_seconds: Okta allows 0 to 60, found ${grace}`)
  return {
    clientId: a.client_id,
    clientSecret: a.client_secret,
    extraSecrets: [],
    name: a.name ?? a.client_name ?? a.client_id,
    tokenEndpointAuthMethod: method,
    grantTypes: new Set<GrantType>(a.grant_types ?? ['authorization_code', 'refresh_token']),
    redirectUris: [...(a.redirect_uris ?? [])],
    postLogoutRedirectUris: [...(a.post_logout_redirect_uris ?? [])],
    jwks: a.jwks,
    assignments,
    orgGroupsClaim:
      a.groups_claim === undefined
        ? undefined
        : { name: a.groups_claim.name ?? 'groups', value: parseGroupsValue(a.groups_claim, `${at}.groups_claim`, problems) },
    refresh: { rotation: a.refresh_token?.rotation ?? 'persistent', gracePeriodSeconds: grace, lifetimeSeconds: a.refresh_token?.lifetime_seconds },
    requirePkce: a.require_pkce ?? method === 'none',
    oktaApiScopes: new Set(a.okta_api_scopes ?? []),
    active: true,
    logout: {
      frontchannelUri: a.frontchannel_logout_uri,
      backchannelUri: a.backchannel_logout_uri,
      universalLogout:
        a.universal_logout === undefined ? undefined : { endpoint: a.universal_logout.endpoint, subjectFormat: a.universal_logout.subject_format ?? 'email' },
    },
  }
}

export function buildClaim(c: ClaimInput, at: string, problems: string[]): ClaimRule {
  const value = 'attribute' in c.value ? c.value : parseGroupsValue(c.value, `${at}.value`, problems)
  return { name: c.name, value, includeIn: c.include_in ?? 'id', scopes: c.scopes ?? 'any' }
}

export function buildPolicy(p: PolicyInput, at: string): AccessPolicy {
  return {
    name: p.name ?? 'policy',
    clients: p.clients === undefined || p.clients === 'all' ? 'all' : new Set(p.clients),
    rules: (p.rules ?? [{}]).map((r, i) => ({
      name: r.name ?? `${at}.rules[${i}]`,
      grantTypes: new Set<GrantType>(r.grant_types ?? ['authorization_code', 'refresh_token', 'implicit', 'client_credentials']),
      scopes: r.scopes === undefined || r.scopes === 'any' ? 'any' : new Set(r.scopes),
      people: r.people === undefined || r.people === 'everyone' ? 'everyone' : { users: new Set(r.people.users ?? []), groups: new Set(r.people.groups ?? []) },
      accessTokenLifetimeSeconds: r.access_token_lifetime_seconds ?? 3600,
    })),
  }
}

function buildServer(s: ServerInput, at: string, problems: string[]): DevServer {
  if (!/^[A-Za-z0-9]+$/.test(s.id) || s.id === 'v1')
    problems.push(`${at}.id: an authorization server id is letters and digits (default, aus…), found ${JSON.stringify(s.id)}`)
  return {
    id: s.id,
    kind: 'custom',
    audience: s.audience ?? `api://${s.id}`,
    scopes: [...(s.scopes ?? [])],
    claims: (s.claims ?? []).map((c, i) => buildClaim(c, `${at}.claims[${i}]`, problems)),
    policies: (s.policies ?? []).map((p, i) => buildPolicy(p, `${at}.policies[${i}]`)),
    signingAlg: s.signing_alg ?? 'RS256',
  }
}

export function buildModel(input: DevIdpModelInput): DevIdpModel {
  const problems: string[] = []
  const users = (input.users ?? []).map(buildUser)
  const unassigned = new Set((input.users ?? []).filter((u) => u.assigned === false).map((u) => u.username))
  const groups = new Map<string, DevGroup>()
  const addGroup = (name: string, id?: string): void => {
    if (!groups.has(name)) groups.set(name, { id: id ?? `00g${Buffer.from(name).toString('hex').slice(0, 17)}`, name })
  }
  addGroup('Everyone')
  for (const g of input.groups ?? []) addGroup(g.name, g.id)
  for (const u of users) for (const g of u.groups) addGroup(g)
  const apps = new Map<string, DevApp>()
  ;(input.apps ?? []).forEach((a, i) => {
    if (apps.has(a.client_id)) problems.push(`apps[${i}].client_id: ${a.client_id} appears twice`)
    apps.set(a.client_id, buildApp(a, unassigned, users, problems, `apps[${i}]`))
  })
  const servers = new Map<string, DevServer>()
  servers.set('org', { id: 'org', kind: 'org', audience: '', scopes: ['groups'], claims: [], policies: [], signingAlg: input.org?.signing_alg ?? 'RS256' })
  ;(input.servers ?? [DEFAULT_SERVER]).forEach((s, i) => {
    if (servers.has(s.id)) problems.push(`servers[${i}].id: ${s.id} appears twice`)
    servers.set(s.id, buildServer(s, `servers[${i}]`, problems))
  })
  const logins = new Set<string>()
  for (const u of users) {
    if (logins.has(u.login) || logins.has(u.username)) problems.push(`users: ${u.login} appears twice`)
    logins.add(u.login)
    logins.add(u.username)
  }
  if (problems.length > 0) throw new DevIdpModelError(problems)
  const apiTokens = new Map((input.api_tokens ?? []).map((t, i) => [t.token, { name: t.name ?? `token ${i}` }] as const))
  return { users, groups, apps, servers, idTokenTtlSeconds: input.id_token_ttl_seconds ?? 3600, apiTokens }
}

export function readModelFile(path: string): DevIdpModelInput {
  const doc = parse(readFileSync(path, 'utf8')) as DevIdpModelInput | null
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc))
    throw new DevIdpModelError([`${path}: expected a map with users, groups, apps and servers`])
  if (doc.users !== undefined && !Array.isArray(doc.users)) throw new DevIdpModelError([`${path}: "users" must be a list`])
  return doc
}
