/**
 * Groups from Okta's API against the local IdP over HTTP: SSWS and the OAuth
 * service app, every page of a user in 250 groups, the directory down (the
 * groups stay unknown with the reason), 429 (waits for the reset, one
 * back-off for the org), and the cache shared by two replicas through Redis.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { startDevIdp, type DevIdp } from '../../src/devidp/index.js'
import { completeGroups, createDirectory, type DirectoryCache } from '../../src/identity/directory.js'
import { createMemoryStore, createRedisStore } from '../../src/session/index.js'
import type { DirectoryConfig } from '../../src/config/types.js'
import { policy, req, who } from '../unit/policy/helpers.js'
import { REDIS_URL, requireRedis } from '../helpers/requirements.js'
import { directoryServiceApp } from '../helpers/service-app.js'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { main } from '../../src/cli.js'

const hasRedis = await requireRedis()
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
const MANY = Array.from({ length: 250 }, (_, i) => `team-${String(i + 1).padStart(3, '0')}`)
let idp: DevIdp

beforeAll(async () => {
  idp = await startDevIdp({
    model: {
      users: [
        { username: 'alice', password: 'alice', id: '00u1alice', email: 'alice@example.com', groups: ['admin', 'eng'] },
        { username: 'many', password: 'many', id: '00u1many', email: 'many@example.com', groups: MANY },
      ],
      apps: [
        { client_id: 'web', client_secret: 'web-secret', redirect_uris: ['http://app.localhost/.gatehouse/callback'] },
        await directoryServiceApp(publicKey),
      ],
      api_tokens: [{ token: '00ssws-token' }],
    },
  })
})
afterAll(() => idp.close())

const ssws = (over: Partial<DirectoryConfig> = {}): DirectoryConfig => ({
  orgUrl: idp.url,
  credential: { kind: 'api_token', apiToken: '00ssws-token' },
  refreshIntervalMs: 600_000,
  timeoutMs: 10_000,
  lookup: 'when_incomplete',
  ...over,
})
const memory = (): DirectoryCache => createMemoryStore()
const INCOMPLETE = "the groups from Okta may be incomplete (100 groups, the claim's cap)"

describe('the directory', () => {
  it('reads every page of a user in 250 groups (SSWS), and the policy judges group #180 and #240 right', async () => {
    const before = idp.counters.apiCalls
    const dir = createDirectory(ssws(), { cache: memory() })
    const r = await dir.groupsOf('00u1many')
    expect(r).toEqual({ ok: true, groups: ['Everyone', ...MANY] })
    expect(idp.counters.apiCalls - before).toBe(2)
    const capped = who({ sub: '00u1many', groups: MANY.slice(0, 100), unknown: { groups: INCOMPLETE } })
    const full = await completeGroups(capped, dir, '00u1many', undefined)
    expect(full.unknown).toBeUndefined()
    expect(policy('allow: {and: [{groups: team-180}]}').evaluate(full, req(), 0).outcome).toBe('allow')
    const d = policy('[{allow: {or: [{accept: true}]}}, {deny: {or: [{groups: team-240}]}}]').evaluate(full, req(), 0)
    expect(d).toMatchObject({ outcome: 'deny', because: 'deny-matched' })
    // Without the directory, both would be unknown: no allow, and the deny denies because it cannot be ruled out.
    expect(policy('allow: {and: [{groups: team-180}]}').evaluate(capped, req(), 0).outcome).toBe('deny')
  })

  it('works with the OAuth service app (private_key_jwt at the org server), one token for many reads', async () => {
    const grants = idp.counters.clientCredentialsGrants
    const dir = createDirectory(
      ssws({
        credential: {
          kind: 'service_app',
          clientId: 'gatehouse-directory',
          privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
          keyId: 'dir-1',
        },
      }),
      { cache: memory() },
    )
    expect(await dir.groupsOf('00u1alice')).toEqual({ ok: true, groups: ['Everyone', 'admin', 'eng'] })
    expect(await dir.groupsOf('00u1many')).toMatchObject({ ok: true })
    expect(idp.counters.clientCredentialsGrants - grants).toBe(1)
    expect(await dir.probe()).toMatchObject({ ok: true })
  })

  it('a credential Okta refuses leaves the groups unknown, saying so', async () => {
    const dir = createDirectory(ssws({ credential: { kind: 'api_token', apiToken: 'revoked' } }), { cache: memory() })
    const r = await completeGroups(who({ sub: '00u1alice', unknown: { groups: INCOMPLETE } }), dir, '00u1alice', undefined)
    expect(r.unknown?.groups).toMatch(/^the directory refused gatehouse's credential \(HTTP 401/)
    expect((await dir.probe()).ok).toBe(false)
  })

  it('the directory down: group criteria stay unknown, fail closed, and the reason says the directory was unreachable', async () => {
    const dir = createDirectory(ssws({ orgUrl: 'http://127.0.0.1:1' }), { cache: memory() })
    const capped = who({ sub: '00u1alice', groups: ['eng'], unknown: { groups: INCOMPLETE } })
    const r = await completeGroups(capped, dir, '00u1alice', undefined)
    expect(r.unknown?.groups).toMatch(/^the directory was unreachable/)
    const allow = policy('allow: {and: [{groups: eng}]}').evaluate(r, req(), 0)
    expect(allow).toMatchObject({ outcome: 'deny', criterion: 'groups' })
    expect(allow.reason).toMatch(/groups cannot be judged: the directory was unreachable/)
    const deny = policy('[{allow: {or: [{accept: true}]}}, {deny: {or: [{groups: contractors}]}}]').evaluate(r, req(), 0)
    expect(deny).toMatchObject({ outcome: 'deny', because: 'deny-unknown' })
  })

  it('a complete list is left alone unless the directory is asked always; a machine is never looked up', async () => {
    const dir = createDirectory(ssws(), { cache: memory() })
    const calls = idp.counters.apiCalls
    const complete = who({ sub: '00u1alice', groups: ['eng'] })
    expect(await completeGroups(complete, dir, '00u1alice', undefined)).toBe(complete)
    const machine = who({ sub: '0oa-bot', unknown: { user: 'a machine token has no user', groups: 'a machine token has no groups' } })
    expect(await completeGroups(machine, dir, '0oa-bot', undefined)).toBe(machine)
    expect(idp.counters.apiCalls).toBe(calls)
    const always = createDirectory(ssws({ lookup: 'always' }), { cache: memory() })
    expect((await completeGroups(complete, always, '00u1alice', /^(admin|eng)$/)).groups).toEqual(['admin', 'eng'])
  })

  it('after a 429 it waits for X-Rate-Limit-Reset (one back-off for the org), then reads', async () => {
    idp.admin.setRateLimit('api', { limit: 0, windowSeconds: 2 })
    const waits: number[] = []
    try {
      const dir = createDirectory(ssws(), {
        cache: memory(),
        // Lift the limit when the directory decides to wait, instead of sleeping: the wait it asked for is what is checked.
        wait: async (ms) => {
          waits.push(ms)
          idp.admin.setRateLimit('api', undefined)
        },
      })
      const [a, b] = await Promise.all([dir.groupsOf('00u1alice'), dir.groupsOf('00u1many')])
      expect(a).toMatchObject({ ok: true })
      expect(b).toMatchObject({ ok: true })
      expect(waits.length).toBeGreaterThanOrEqual(1)
      for (const ms of waits) expect(ms).toBeGreaterThan(0)
      // The reset is in whole epoch seconds: at most the 2 s window plus rounding.
      for (const ms of waits) expect(ms).toBeLessThanOrEqual(3000)
    } finally {
      idp.admin.setRateLimit('api', undefined)
    }
  })

  it('a reset beyond idp_refresh_directory_timeout fails closed with the reason', async () => {
    idp.admin.setRateLimit('api', { limit: 0, windowSeconds: 3600 })
    try {
      const dir = createDirectory(ssws({ timeoutMs: 200 }), { cache: memory() })
      const r = await dir.groupsOf('00u1alice')
      expect(r.ok).toBe(false)
      expect(!r.ok && r.reason).toMatch(/rate limit/)
    } finally {
      idp.admin.setRateLimit('api', undefined)
    }
  })

  it.skipIf(!hasRedis)('the cache is shared by two replicas through Redis: one API read for two', async () => {
    const prefix = `gh-test-${randomBytes(6).toString('hex')}:`
    const storeA = createRedisStore({ url: REDIS_URL, prefix })
    const storeB = createRedisStore({ url: REDIS_URL, prefix })
    try {
      const a = createDirectory(ssws(), { cache: storeA })
      const b = createDirectory(ssws(), { cache: storeB })
      const before = idp.counters.apiCalls
      expect(await a.groupsOf('00u1alice')).toMatchObject({ ok: true, groups: ['Everyone', 'admin', 'eng'] })
      expect(await b.groupsOf('00u1alice')).toMatchObject({ ok: true, groups: ['Everyone', 'admin', 'eng'] })
      expect(idp.counters.apiCalls - before).toBe(1)
    } finally {
      await storeA.close()
      await storeB.close()
    }
  })

  it('a stale list is answered at once and read again in the background, once', async () => {
    let now = Date.now()
    const cache = memory()
    const dir = createDirectory(ssws({ refreshIntervalMs: 1000 }), { cache, now: () => now })
    await dir.groupsOf('00u1alice')
    idp.setUserGroups('alice', ['admin'])
    now += 1500
    const before = idp.counters.apiCalls
    const [x, y] = await Promise.all([dir.groupsOf('00u1alice'), dir.groupsOf('00u1alice')])
    expect(x).toMatchObject({ ok: true, groups: ['Everyone', 'admin', 'eng'] })
    expect(y).toMatchObject({ ok: true, groups: ['Everyone', 'admin', 'eng'] })
    await expect.poll(async () => (await dir.groupsOf('00u1alice')).ok && (await dir.groupsOf('00u1alice'))).toMatchObject({ groups: ['Everyone', 'admin'] })
    expect(idp.counters.apiCalls - before).toBe(1)
    idp.setUserGroups('alice', ['admin', 'eng'])
  })

  it('check --online tests the directory credential with one call, and says what to fix when it fails', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-dir-'))
    const file = join(dir, 'g.yaml')
    const config = (apiKey: string) =>
      `insecure_server: true\nidp_provider_url: ${idp.issuer}\nidp_client_id: web\nidp_client_secret: web-secret\ncookie_secret: fBa/6KZJKwft5ejqIxbF/nZrcDrGhtvAVvvm6+2i2Yk=\n` +
      `idp_service_account: ${Buffer.from(JSON.stringify({ api_key: apiKey })).toString('base64')}\n` +
      'routes:\n  - from: http://app.localhost\n    to: http://127.0.0.1:1\n    allow_any_authenticated_user: true\n'
    let out = ''
    const io = { stdout: (t: string) => void (out += t), stderr: (t: string) => void (out += t), env: {}, cwd: process.cwd() }
    writeFileSync(file, config('00ssws-token'))
    expect(await main(['check', '--online', '-c', file], io)).toBe(0)
    expect(out).toContain(`ok    directory: ${idp.url}: groups readable with an API token (SSWS)`)
    writeFileSync(file, config('revoked'))
    out = ''
    expect(await main(['check', '--online', '-c', file], io)).toBe(1)
    expect(out).toMatch(/FAIL {2}directory: HTTP 401 .*idp_service_account/)
  })
})
