import { describe, expect, it } from 'vitest'
import { main } from '../../../src/cli.js'
import { compileConfigText } from '../../../src/config/index.js'

async function run(argv: string[], env: Record<string, string> = {}) {
  let out = ''
  let err = ''
  const code = await main(argv, { stdout: (t) => void (out += t), stderr: (t) => void (err += t), env, cwd: process.cwd() })
  return { code, out, err }
}

const EXAMPLE_ENV = {
  OKTA_CLIENT_ID: '0oa1example',
  OKTA_CLIENT_SECRET: 'secret',
  COOKIE_SECRET: 'fBa/6KZJKwft5ejqIxbF/nZrcDrGhtvAVvvm6+2i2Yk=',
  SIGNING_KEY:
    'LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCk1JR0hBZ0VBTUJNR0J5cUdTTTQ5QWdFR0NDcUdTTTQ5QXdFSEJHMHdhd0lCQVFRZ09nZ2VXdDE3bUJub0FJQnoKNmtCUWhqOFdVQlZmc082c2FQbWdNdWcweXdTaFJBTkNBQVNJWmR0aGM5UUNoRDZmbFBwQkJjS1hkMEwwVzJ1bwpvTUJwT3h2aDFaOUlwTDVOM1NLZUFQQk9mSHhjeXRSaUJudHphMHdkdzFHRTF5VC9NWWcrajlVcgotLS0tLUVORCBQUklWQVRFIEtFWS0tLS0tCg==',
}

describe('gatehouse check', () => {
  it('says ok with a summary for the example config', async () => {
    const r = await run(['check', '-c', 'config/gatehouse.example.yaml'], EXAMPLE_ENV)
    expect(r.code).toBe(0)
    expect(r.out).toMatch(/^ok: config\/gatehouse.example.yaml\n {2}4 routes on 4 hosts, 0 warnings/)
  })
  it('prints every problem as file:line:col and exits 1', async () => {
    const r = await run(['check', '-c', 'test/fixtures/config/broken/01-many.yaml'])
    expect(r.code).toBe(1)
    expect(r.err).toContain('test/fixtures/config/broken/01-many.yaml:14:15 routes[0].policy[0].allow.and[0].group: unknown criterion "group"')
    expect(r.err).toContain('did you mean "groups"?')
    expect(r.err).toContain('7 problems')
  })
  it('names a missing file', async () => {
    const r = await run(['check', '-c', 'no/such.yaml'])
    expect(r.code).toBe(1)
    expect(r.err).toMatch(/no\/such.yaml:1:1: cannot read the config file \(ENOENT\)/)
  })
})

describe('gatehouse explain', () => {
  const url = ['--url', 'https://grafana.corp.example/d/abc']
  it('allows alice (admin) on the admin route', async () => {
    const r = await run(['explain', '-c', 'config/gatehouse.example.yaml', ...url, '--email', 'alice@corp.example', '--groups', 'admin'], EXAMPLE_ENV)
    expect(r.code).toBe(0)
    expect(r.out).toContain('outcome: allow')
  })
  it('denies bob (eng) the finance route and says why, rule by rule', async () => {
    const r = await run(
      [
        'explain',
        '-c',
        'config/gatehouse.example.yaml',
        '--url',
        'https://finance.corp.example/',
        '--email',
        'bob@corp.example',
        '--groups',
        'eng',
        '--time',
        '2026-11-25T10:00:00Z',
      ],
      EXAMPLE_ENV,
    )
    expect(r.code).toBe(3)
    expect(r.out).toContain('reason: groups: [eng] has no "finance"')
    expect(r.out).toContain('[no-match] groups: [eng] has no "finance"')
    expect(r.out).toContain('[match] day_of_week')
  })
  it('judges a groups list that may be incomplete as unknown: alice (admin) is not let in, and the reason says why', async () => {
    const r = await run(
      ['explain', '-c', 'config/gatehouse.example.yaml', ...url, '--email', 'alice@corp.example', '--groups', 'admin', '--unknown', 'groups'],
      EXAMPLE_ENV,
    )
    expect(r.code).toBe(3)
    expect(r.out).toContain("unknown: groups (the groups from Okta may be incomplete (100 groups, the claim's cap))")
    expect(r.out).toContain("[unknown] groups cannot be judged: the groups from Okta may be incomplete (100 groups, the claim's cap)")
  })
  it('judges a machine token: its email and groups are unknown; an unknown fact name is a usage error', async () => {
    const r = await run(['explain', '-c', 'config/gatehouse.example.yaml', ...url, '--machine', '--claims', '{"cid":"0oa-bot"}'], EXAMPLE_ENV)
    expect(r.code).toBe(3)
    expect(r.out).toMatch(/cannot be judged: a machine token has no (groups|email)/)
    const bad = await run(['explain', '-c', 'config/gatehouse.example.yaml', ...url, '--unknown', 'domain'], EXAMPLE_ENV)
    expect(bad.code).toBe(2)
    expect(bad.err).toContain('domain follows email')
  })
  it('says sign-in is required for an anonymous request', async () => {
    const r = await run(['explain', '-c', 'config/gatehouse.example.yaml', ...url, '--anonymous'], EXAMPLE_ENV)
    expect(r.code).toBe(4)
  })
  it('reports no route as a deny with 404', async () => {
    const r = await run(['explain', '-c', 'config/gatehouse.example.yaml', '--url', 'https://nope.corp.example/'], EXAMPLE_ENV)
    expect(r.code).toBe(3)
    expect(r.out).toContain('404')
  })
  it('exits 2 on a usage error and 1 on a config error', async () => {
    expect((await run(['explain', '-c', 'config/gatehouse.example.yaml'], EXAMPLE_ENV)).code).toBe(2)
    expect((await run(['explain', '-c', 'config/gatehouse.example.yaml', '--url', 'x', '--bogus'], EXAMPLE_ENV)).code).toBe(2)
    expect((await run(['explain', '-c', 'test/fixtures/config/broken/01-many.yaml', ...url])).code).toBe(1)
  })
})

describe('gatehouse keygen', () => {
  it('prints a cookie_secret and signing_key that a config accepts', async () => {
    const r = await run(['keygen'])
    expect(r.code).toBe(0)
    const loaded = compileConfigText(
      `insecure_server: true\nidp_provider_url: https://a.okta.com\nidp_client_id: x\nidp_client_secret: y\n${r.out}`,
      'k.yaml',
      {},
    )
    if ('problems' in loaded) throw new Error(JSON.stringify(loaded.problems))
    expect(loaded.warnings.map((w) => w.path)).not.toContain('signing_key')
  })
})

describe('the command table', () => {
  it('rejects an unknown command with usage and exit 2', async () => {
    const r = await run(['frobnicate'])
    expect(r.code).toBe(2)
    expect(r.err).toContain('unknown command "frobnicate"')
  })
})
