/**
 * idp_roles: the application's roles from IdP groups. `check` on configs in
 * Pomerium's shape (every bad shape an error with its position), the mapping
 * applied to identities, and `explain` reading it.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { runCli } from '../../helpers/cli.js'
import { withRoles } from '../../../src/authorize/roles.js'
import { compileConfigText, loadConfig } from '../../../src/config/index.js'
import type { Identity } from '../../../src/policy/types.js'

const FIXTURE = 'test/fixtures/config/pomerium-compat/roles-konnect.yaml'
const base = readFileSync(FIXTURE, 'utf8')

const cli = runCli

function withMapping(mapping: string, extra = ''): string {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-roles-'))
  const text = base.replace(/^idp_roles:\n(?: {2}.*\n| {4}.*\n)*/m, mapping) + extra
  const file = join(dir, 'pomerium.yaml')
  writeFileSync(file, text)
  return file
}

describe('idp_roles in check', () => {
  it('loads a Pomerium-shaped config with roles mapped from groups, in file order', async () => {
    const r = await cli(['check', '-c', FIXTURE])
    expect(r.code).toBe(0)
    expect(r.err).not.toMatch(/idp_roles/)
    const loaded = loadConfig({ file: FIXTURE, env: {} })
    if (!('config' in loaded)) throw new Error('expected a config')
    expect(loaded.config.roles).toEqual([
      { role: 'organization_admin', groups: ['okta-org-admins'] },
      { role: 'service_admin', groups: ['okta-service-admins', 'okta-platform'] },
      { role: 'analytics_viewer', groups: ['okta-analytics'] },
    ])
  })

  it('takes the mapping from the IDP_ROLES environment variable as YAML', () => {
    const text = base.replace(/^idp_roles:\n(?: {2}.*\n| {4}.*\n)*/m, '')
    const loaded = compileConfigText(text, 'pomerium.yaml', { IDP_ROLES: '{service_admin: [okta-service-admins], organization_admin: okta-org-admins}' })
    if (!('config' in loaded)) throw new Error(JSON.stringify(loaded.problems))
    expect(loaded.config.roles?.map((g) => g.role)).toEqual(['service_admin', 'organization_admin'])
  })

  const bad: Array<{ name: string; mapping: string; want: RegExp }> = [
    {
      name: 'a list instead of a map',
      mapping: 'idp_roles: [admin, viewer]\n',
      want: /pomerium\.yaml:11:12 idp_roles: idp_roles must be a map of role to the groups that grant it, found a list/,
    },
    { name: 'a plain string', mapping: 'idp_roles: admin\n', want: /pomerium\.yaml:11:12 idp_roles: idp_roles must be a map .*, found "admin"/ },
    { name: 'a role with no group', mapping: 'idp_roles:\n  admin:\n', want: /pomerium\.yaml:12:\d+ idp_roles\.admin: expected a group name, found nothing/ },
    { name: 'an empty list', mapping: 'idp_roles:\n  admin: []\n', want: /pomerium\.yaml:12:10 idp_roles\.admin: no group grants this role/ },
    {
      name: 'a map where a group belongs',
      mapping: 'idp_roles:\n  admin: {group: okta-admins}\n',
      want: /pomerium\.yaml:12:10 idp_roles\.admin: expected a group name, found a map/,
    },
    {
      name: 'a number in the list',
      mapping: 'idp_roles:\n  admin: [okta-admins, 42]\n',
      want: /pomerium\.yaml:12:24 idp_roles\.admin\[1\]: expected a group name, found 42/,
    },
    {
      name: 'a nested list',
      mapping: 'idp_roles:\n  admin:\n    - [okta-admins]\n',
      want: /pomerium\.yaml:13:7 idp_roles\.admin\[0\]: expected a group name, found a list/,
    },
  ]
  for (const c of bad)
    it(`refuses ${c.name}, with its position`, async () => {
      const r = await cli(['check', '-c', withMapping(c.mapping)])
      expect(r.code).toBe(1)
      expect(r.err).toMatch(c.want)
    })

  it('reports every bad role at once, not the first only', async () => {
    const r = await cli(['check', '-c', withMapping('idp_roles:\n  admin: []\n  viewer: 7\n  ok: okta-eng\n')])
    expect(r.code).toBe(1)
    expect(r.err).toMatch(/idp_roles\.admin: no group grants this role/)
    expect(r.err).toMatch(/idp_roles\.viewer: expected a group name, found 7/)
  })

  it('warns about a claim/roles value no role is named, with a did-you-mean', async () => {
    const file = withMapping('idp_roles:\n  service_admin: okta-service-admins\n')
    const r = await cli(['check', '-c', file])
    expect(r.code).toBe(0)
    expect(r.err).toMatch(/claim\/roles names "organization_admin", which idp_roles does not grant \(roles: service_admin\)/)
    expect(r.err).not.toMatch(/"service_admin", which/)
  })

  it('warns about a group that idp_groups_filter drops before roles are worked out', async () => {
    const r = await cli(['check', '-c', withMapping('idp_roles:\n  service_admin: [okta-service-admins, eng]\n', 'idp_groups_filter: ^okta-\n')])
    expect(r.code).toBe(0)
    expect(r.err).toMatch(/idp_roles\.service_admin: group "eng" never grants service_admin: idp_groups_filter drops it/)
  })

  it('explain applies the mapping to the groups given', async () => {
    const url = 'https://konnect.corp.example/'
    const yes = await cli(['explain', '-c', FIXTURE, '--url', url, '--email', 'a@corp.example', '--groups', 'okta-platform'])
    expect(yes.out).toMatch(/roles \[service_admin\]/)
    expect(yes.code).toBe(0)
    const no = await cli(['explain', '-c', FIXTURE, '--url', url, '--email', 'a@corp.example', '--groups', 'okta-analytics'])
    expect(no.out).toMatch(/roles \[analytics_viewer\]/)
    expect(no.code).toBe(3)
    // Groups that may be incomplete make the roles unknown: the allow on roles does not allow.
    const unsure = await cli(['explain', '-c', FIXTURE, '--url', url, '--email', 'a@corp.example', '--groups', 'okta-platform', '--unknown', 'groups'])
    expect(unsure.out).toMatch(/unknown: roles \(roles come from the groups, and the groups from Okta may be incomplete/)
    expect(unsure.code).toBe(3)
  })
})

describe('withRoles', () => {
  const grants = [
    { role: 'organization_admin', groups: ['okta-org-admins'] },
    { role: 'service_admin', groups: ['okta-service-admins', 'okta-platform'] },
  ]
  const who = (groups: string[], extra: Partial<Identity> = {}): Identity => ({
    sub: 'u',
    email: 'u@x',
    name: undefined,
    groups,
    claims: { roles: ['from-token'] },
    ...extra,
  })
  const cases: Array<{ name: string; groups: string[]; want: string[] }> = [
    { name: 'one group of one role', groups: ['okta-platform'], want: ['service_admin'] },
    { name: 'groups of both roles, in mapping order', groups: ['okta-platform', 'okta-org-admins'], want: ['organization_admin', 'service_admin'] },
    { name: 'no mapped group', groups: ['eng'], want: [] },
    { name: 'case matters, as in the groups criterion', groups: ['OKTA-PLATFORM'], want: [] },
  ]
  for (const c of cases)
    it(c.name, () => {
      const out = withRoles(who(c.groups), grants)
      expect(out.roles).toEqual(c.want)
      // The mapping is the source of `roles`: a token's own roles claim does not leak past it.
      expect(out.claims.roles).toEqual(c.want)
    })
  it('leaves an identity alone when idp_roles is not configured', () => {
    const w = who(['okta-platform'])
    expect(withRoles(w, undefined)).toBe(w)
  })
  it('marks the roles unknown when the groups are', () => {
    const out = withRoles(who(['okta-platform'], { unknown: { groups: 'the groups may be incomplete' } }), grants)
    expect(out.unknown).toEqual({ groups: 'the groups may be incomplete', roles: 'roles come from the groups, and the groups may be incomplete' })
  })
})
