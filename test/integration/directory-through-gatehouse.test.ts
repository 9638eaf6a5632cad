/**
 * The directory through a running gatehouse: a person in 250 groups signs in
 * through the real flow at the local IdP (the groups claim capped at 100, or
 * none at all), gatehouse reads the rest from Okta's API with its directory
 * credential (an SSWS API token, or the OAuth service app) and judges routes
 * on group #180 and a deny on group #240 right; with the IdP's API down, a
 * groups rule refuses with the reason that the directory was unreachable.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { DevUserInput } from '../../src/devidp/index.js'
import { directoryServiceApp } from '../helpers/service-app.js'
import { route, startStack, type Stack } from '../helpers/stack.js'

const MANY = Array.from({ length: 250 }, (_, i) => `team-${String(i + 1).padStart(3, '0')}`)
const API_TOKEN = '00ssws-directory-token'
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
const keyDir = mkdtempSync(join(tmpdir(), 'gatehouse-dir-e2e-'))
const keyFile = join(keyDir, 'directory.pem')
writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }).toString())

const users: DevUserInput[] = [
  { username: 'many', password: 'many', id: '00u1many', email: 'many@example.com', groups: MANY },
  { username: 'dora', password: 'dora', id: '00u1dora', email: 'dora@example.com', groups: MANY },
]

/** /allow/: group #180 lets in; /deny/: anyone signed in, except group #240. */
const routes = ({ upstream, port }: { upstream: string; port: number }): string =>
  route(`http://app.localhost:${port}`, upstream, { policy: ['- allow: {and: [{groups: team-180}]}'] }, ['prefix: /allow/']) +
  route(`http://app.localhost:${port}`, upstream, { policy: ['- allow: {and: [{accept: true}]}', '- deny: {or: [{groups: team-240}]}'] }, ['prefix: /deny/'])

const ssws = `idp_service_account: ${Buffer.from(JSON.stringify({ api_key: API_TOKEN })).toString('base64')}\n`
const serviceApp = `idp_directory_client_id: gatehouse-directory\nidp_directory_private_key_file: ${keyFile}\nidp_directory_key_id: dir-1\n`

async function startWith(directory: string): Promise<Stack> {
  return startStack({
    routes,
    extra: directory,
    idp: {
      users,
      model: {
        api_tokens: [{ token: API_TOKEN }],
        apps: [await directoryServiceApp(publicKey)],
      },
    },
  })
}

async function get(s: Stack, c: ReturnType<Stack['client']>, path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await c.get(s.url('app.localhost', path), { headers: { accept: 'application/json' } })
  const text = await res.text()
  return { status: res.status, body: res.status === 200 ? {} : (JSON.parse(text) as Record<string, unknown>) }
}

/**
 * many signs in at /allow/x (let in by #180) and is refused at /deny/x (a deny on #240);
 * `reads` counts the directory work, which the sign-in must raise by `expected`.
 */
async function manyAllowedThenDenied(s: Stack, reads: () => number, expected: number): Promise<ReturnType<Stack['client']>> {
  const c = s.client()
  const before = reads()
  const signedIn = await s.signIn(c, s.url('app.localhost', '/allow/x'), 'many')
  expect(signedIn.res.status).toBe(200)
  expect(reads() - before).toBe(expected)
  const denied = await get(s, c, '/deny/x')
  expect(denied.status).toBe(403)
  expect(denied.body.reason).toMatch(/groups.*team-240/)
  return c
}

let sswsStack: Stack
let appStack: Stack
beforeAll(async () => {
  sswsStack = await startWith(ssws)
  appStack = await startWith(serviceApp)
})
afterAll(async () => {
  await sswsStack?.close()
  await appStack?.close()
  rmSync(keyDir, { recursive: true, force: true })
})

describe('groups from the directory, through a running gatehouse', () => {
  it('a groups claim capped at 100: the rest is read with the API token (SSWS); #180 lets in, a deny on #240 refuses', async () => {
    const s = sswsStack
    s.idp.admin.setServerClaims('default', [{ name: 'groups', value: { expression: 'Groups.startsWith("OKTA", "team", 100)' }, include_in: 'id' }])
    const before = s.idp.counters.apiCalls
    // The claim stopped at team-100: #180 and #240 came from /api/v1/users/{id}/groups (two pages of 200).
    const c = await manyAllowedThenDenied(s, () => s.idp.counters.apiCalls, 2)
    // Cached for the user: no further reads.
    expect((await get(s, c, '/allow/y')).status).toBe(200)
    expect(s.idp.counters.apiCalls - before).toBe(2)
  })

  it('no groups claim at all: the directory is asked (OAuth service app), #180 lets in, a deny on #240 refuses', async () => {
    const s = appStack
    s.idp.admin.setServerClaims('default', [])
    await manyAllowedThenDenied(s, () => s.idp.counters.clientCredentialsGrants, 1)
    // The groups come from the directory: the "no groups claim, groups rules deny" warning would be false.
    expect(s.logs.join('')).not.toMatch(/no groups claim from Okta/)
  })

  it("the IdP's API down: a groups rule refuses, saying the directory was unreachable (fail closed)", async () => {
    const s = sswsStack
    s.idp.admin.setServerClaims('default', [{ name: 'groups', value: { expression: 'Groups.startsWith("OKTA", "team", 100)' }, include_in: 'id' }])
    s.idp.admin.setApiAvailable(false)
    try {
      const c = s.client()
      // dora has never been read, so nothing is cached for her.
      const signedIn = await s.signIn(c, s.url('app.localhost', '/deny/x'), 'dora')
      expect(signedIn.res.status).toBe(403)
      const allow = await get(s, c, '/allow/x')
      expect(allow.status).toBe(403)
      expect(allow.body.reason).toMatch(/groups cannot be judged: the directory was unreachable/)
      const deny = await get(s, c, '/deny/x')
      expect(deny.status).toBe(403)
      expect(deny.body.reason).toMatch(/groups.*the directory was unreachable/)
      expect(s.logs.join('')).toMatch(/"msg":"directory read failed"/)
    } finally {
      s.idp.admin.setApiAvailable(true)
    }
  })
})
