import { describe, expect, it } from 'vitest'
import { readdirSync, readFileSync } from 'node:fs'
import fc from 'fast-check'
import { stringify } from 'yaml'
import { compileConfigText, formatProblem, loadConfig, renderConfigReference, type Problem } from '../../../src/config/index.js'

const SECRET = 'fBa/6KZJKwft5ejqIxbF/nZrcDrGhtvAVvvm6+2i2Yk='
const BASE = `insecure_server: true
idp_provider_url: https://acme.okta.com/oauth2/default
idp_client_id: 0oa1
idp_client_secret: s3cret
cookie_secret: ${SECRET}
`
const ROUTE = `routes:
  - from: https://app.corp.example
    to: http://app:8080
    allow_any_authenticated_user: true
`

function load(text: string, env: Record<string, string> = {}, files: Record<string, string> = {}) {
  return compileConfigText(text, 'gatehouse.yaml', env, (p) => {
    const f = files[p]
    if (f === undefined) throw Object.assign(new Error('missing'), { code: 'ENOENT' })
    return f
  })
}
function problems(text: string, env: Record<string, string> = {}): Problem[] {
  const r = load(text, env)
  if (!('problems' in r)) throw new Error('expected problems')
  return r.problems
}
const codes = (ps: readonly Problem[]) => ps.map((p) => `${p.line}:${p.col} ${p.code}`)

describe('config values', () => {
  const bad: Array<[string, string, RegExp]> = [
    ['unknown key with a suggestion', 'idp_provder_url: x\n', /unknown key "idp_provder_url"/],
    ['cookie_secret of the wrong length', 'cookie_secret: c2hvcnQ=\n', /32 random bytes/],
    ['duration', 'cookie_expire: 14 hours\n', /duration/],
    ['same-site value', 'cookie_same_site: sometimes\n', /lax, strict, none/],
    ['storage type', 'databroker_storage_type: mongodb\n', /memory, postgres, redis/],
    ['postgres without a connection string', 'databroker_storage_type: postgres\n', /needs databroker_storage_connection_string \(postgresql:/],
    [
      'postgres with a redis URL',
      'databroker_storage_type: postgres\ndatabroker_storage_connection_string: redis://r:6379\n',
      /postgresql:\/\/ URI or libpq keyword/,
    ],
    ['redis without a URL', 'databroker_storage_type: redis\n', /connection_string/],
    ['an IdP URL that is not http(s)', 'idp_provider_url: ftp://acme.okta.com\n', /https/],
    ['signing key not P-256', `signing_key: ${Buffer.from('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n').toString('base64')}\n`, /P-256/],
    ['trusted proxy', 'trusted_proxies: [10.0.0.0/99]\n', /not an IP address or CIDR/],
    ['bad regex filter', 'idp_groups_filter: "(["\n', /regular expression/],
  ]
  for (const [name, extra, want] of bad) {
    it(`refuses ${name}, with a position`, () => {
      const text =
        extra.startsWith('idp_provider_url') || extra.startsWith('cookie_secret')
          ? BASE.replace(new RegExp(`^${extra.split(':')[0]}:.*$`, 'm'), extra.trim()) + ROUTE
          : BASE + extra + ROUTE
      const ps = problems(text)
      expect(ps.map((p) => p.message + (p.hint ?? '')).join('\n')).toMatch(want)
      for (const p of ps) expect(p.line).toBeGreaterThan(0)
    })
  }

  it('suggests the key that was meant', () => {
    const ps = problems(BASE + 'cookie_secure_name: x\ncookie_nmae: y\n' + ROUTE)
    expect(ps.find((p) => p.message.includes('cookie_nmae'))?.hint).toBe('did you mean "cookie_name"?')
  })

  it('substitutes ${ENV}, says which variable is missing and where, and keeps $${ literal', () => {
    const ok = load(BASE.replace('s3cret', '${SECRET_X}') + ROUTE.replace('http://app:8080', '"http://${UP}:8080"'), { SECRET_X: 'from-env', UP: 'upstream' })
    if (!('config' in ok)) throw new Error(JSON.stringify(ok.problems))
    expect(ok.config.idp.clientSecret).toBe('from-env')
    expect(ok.config.routes[0]?.to[0]?.url.hostname).toBe('upstream')
    const ps = problems(BASE.replace('s3cret', '${NOPE}') + ROUTE)
    expect(ps[0]).toMatchObject({ line: 4, col: 20, path: 'idp_client_secret', code: 'CONFIG_MISSING_ENV' })
    const lit = load(
      BASE +
        ROUTE.replace(
          'allow_any_authenticated_user: true',
          () => 'allow_any_authenticated_user: true\n    set_request_headers:\n      X-Template: "$${NOT_ENV}"',
        ),
    )
    if (!('config' in lit)) throw new Error(JSON.stringify(lit.problems))
    expect(lit.config.routes[0]?.setRequestHeaders['X-Template']).toBe('${NOT_ENV}')
  })

  it("takes top-level keys from the environment in Pomerium's style, over the file", () => {
    const r = load(BASE + ROUTE, { IDP_CLIENT_SECRET: 'env-secret', IDP_SCOPES: 'openid,email', COOKIE_EXPIRE: '2h' })
    if (!('config' in r)) throw new Error(JSON.stringify(r.problems))
    expect(r.config.idp.clientSecret).toBe('env-secret')
    expect(r.config.idp.scopes).toEqual(['openid', 'email'])
    expect(r.config.cookie.expireMs).toBe(7_200_000)
  })

  it('reads *_file secrets, and refuses a secret given twice', () => {
    const r = load(BASE.replace('idp_client_secret: s3cret', 'idp_client_secret_file: /run/secret') + ROUTE, {}, { '/run/secret': 'from-file\n' })
    if (!('config' in r)) throw new Error(JSON.stringify(r.problems))
    expect(r.config.idp.clientSecret).toBe('from-file')
    const twice = load(BASE + 'idp_client_secret_file: /run/secret\n' + ROUTE, {}, { '/run/secret': 'x' })
    expect('problems' in twice && twice.problems[0]?.code).toBe('CONFIG_CONFLICT')
  })

  it('generates a cookie secret with a warning when absent, as Pomerium does', () => {
    const r = load(BASE.replace(/^cookie_secret.*$/m, '') + ROUTE)
    if (!('config' in r)) throw new Error(JSON.stringify(r.problems))
    expect(r.config.cookie.secretGenerated).toBe(true)
    expect(r.warnings.map((w) => w.code)).toContain('CONFIG_GENERATED_SECRET')
  })

  it('gives the same result for the same file twice, frozen', () => {
    const a = load(BASE + ROUTE)
    const b = load(BASE + ROUTE)
    if (!('config' in a) || !('config' in b)) throw new Error('expected configs')
    expect(Object.isFrozen(a.config)).toBe(true)
    expect(Object.isFrozen(a.config.routes[0])).toBe(true)
    expect(JSON.stringify(a.config)).toBe(JSON.stringify(b.config))
  })

  it('parses routes: weights, matchers, timeouts, legacy keys', () => {
    const r = load(
      BASE +
        `routes:
  - from: https://api.corp.example:8443
    prefix: /v1/
    prefix_rewrite: /
    to: [ "http://a:1,3", http://b:2 ]
    timeout: 1m30s
    allowed_domains: [corp.example]
  - from: https://API.corp.example
    regex: "/v[0-9]+/.*"
    to: http://c:3
    allow_public_unauthenticated_access: true
`,
    )
    if (!('config' in r)) throw new Error(JSON.stringify(r.problems))
    const [a, b] = r.config.routes
    expect(a?.to.map((u) => u.weight)).toEqual([3, 1])
    expect(a?.timeoutMs).toBe(90_000)
    expect(a?.port).toBe(8443)
    expect(b?.isPublic).toBe(true)
    const t = r.config.routeTable
    expect(t.match('api.corp.example', 8443, '/v1/x')?.index).toBe(0)
    expect(t.match('API.CORP.EXAMPLE', 443, '/v1/x')?.index).toBe(1)
    expect(t.match('api.corp.example', 443, '/v2/x/y')?.index).toBe(1)
    expect(t.match('api.corp.example', 443, '/V1/x')).toBeUndefined()
    expect(t.match('other.corp.example', 443, '/')).toBeUndefined()
  })

  it('collects every problem of a broken file, each with file:line:col, path and code', () => {
    const r = loadConfig({ file: 'test/fixtures/config/broken/01-many.yaml', env: {} })
    if (!('problems' in r)) throw new Error('expected problems')
    expect(codes(r.problems)).toEqual([
      '5:16 CONFIG_BAD_SECRET',
      '7:16 CONFIG_BAD_DURATION',
      '9:11 CONFIG_BAD_URL',
      '14:15 CONFIG_POLICY',
      '16:9 CONFIG_BAD_URL',
      '17:12 CONFIG_BAD_REGEX',
      '18:5 CONFIG_UNKNOWN_KEY',
    ])
    expect(formatProblem(r.problems[3] as Problem)).toBe(
      'test/fixtures/config/broken/01-many.yaml:14:15 routes[0].policy[0].allow.and[0].group: unknown criterion "group"\n    did you mean "groups"?',
    )
  })

  it('never throws on random YAML: a config or positioned problems', () => {
    const leaf = fc.oneof(fc.string({ maxLength: 10 }), fc.integer(), fc.boolean(), fc.constant(null))
    const key = fc.constantFrom(
      'routes',
      'from',
      'to',
      'policy',
      'idp_provider_url',
      'cookie_secret',
      'address',
      'timeout',
      'prefix',
      'regex',
      'allow',
      'and',
      'groups',
      'x',
    )
    const tree = fc.letrec((tie) => ({
      node: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('node'), { maxLength: 3 }), fc.dictionary(key, tie('node'), { maxKeys: 4 })),
    })).node
    fc.assert(
      fc.property(
        fc.oneof(
          tree.map((t) => stringify(t)),
          fc.string({ maxLength: 200 }),
        ),
        (text) => {
          const r = compileConfigText(text, 'f.yaml', {}, () => {
            throw Object.assign(new Error('no'), { code: 'ENOENT' })
          })
          if ('problems' in r) for (const p of r.problems) expect(p.line).toBeGreaterThan(0)
        },
      ),
      { numRuns: 800 },
    )
  })
})

describe('Pomerium-style corpus', () => {
  const dir = 'test/fixtures/config/pomerium'
  const expected: Record<string, string[]> = {
    '10-unsupported.yaml': ['shared_secret', 'grpc_address', 'autocert', 'signing_key', 'routes[0].tls_client_cert_file'],
    '11-deny-and-nor.yaml': ['signing_key', 'routes[0].policy[1].allow.nor'],
  }
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'))
  it('has at least ten configs', () => expect(files.length).toBeGreaterThanOrEqual(10))
  for (const f of files) {
    it(`${f} loads with exactly the expected warnings`, () => {
      const r = loadConfig({ file: `${dir}/${f}`, env: {} })
      if ('problems' in r) throw new Error(r.problems.map(formatProblem).join('\n'))
      expect(r.warnings.map((w) => w.path)).toEqual(expected[f] ?? ['signing_key'])
    })
  }
})

describe('configuration reference', () => {
  it('docs/configuration.md is generated from the key table', () => {
    expect(readFileSync('docs/configuration.md', 'utf8')).toBe(renderConfigReference())
  })
})

describe('slow-client limits', () => {
  const routeWith = (lines: string) => `routes:\n  - from: https://app.corp.example\n    to: http://app:8080\n    allow_any_authenticated_user: true\n${lines}`
  const config = (text: string) => {
    const r = load(text)
    if ('problems' in r) throw new Error(r.problems.map(formatProblem).join('\n'))
    return r.config
  }
  it('defaults: timeout 30s, idle_timeout 5m, timeout_read 30s, 64 requests per client and origin', () => {
    const c = config(BASE + ROUTE)
    expect([c.routes[0]?.timeoutMs, c.routes[0]?.idleTimeoutMs, c.timeoutReadMs, c.maxUpstreamRequestsPerClient]).toEqual([30_000, 300_000, 30_000, 64])
  })
  it('default_upstream_timeout is the timeout of routes that set none', () => {
    const c = config(
      BASE +
        'default_upstream_timeout: 1m\n' +
        routeWith('    timeout: 5s\n  - from: https://b.corp.example\n    to: http://b:8080\n    allow_any_authenticated_user: true\n'),
    )
    expect(c.routes.map((r) => r.timeoutMs)).toEqual([5_000, 60_000])
  })
  it('idle_timeout without timeout means no overall timeout, as Pomerium', () => {
    const c = config(BASE + routeWith('    idle_timeout: 10s\n'))
    expect([c.routes[0]?.timeoutMs, c.routes[0]?.idleTimeoutMs]).toEqual([0, 10_000])
  })
  it('refuses values that are not durations or counts', () => {
    expect(problems(BASE + 'timeout_read: soon\n' + ROUTE).map((p) => p.code)).toEqual(['CONFIG_BAD_DURATION'])
    expect(problems(BASE + routeWith('    idle_timeout: forever\n')).map((p) => p.code)).toEqual(['CONFIG_BAD_DURATION'])
    expect(problems(BASE + 'max_upstream_requests_per_client: lots\n' + ROUTE).map((p) => p.code)).toEqual(['CONFIG_BAD_VALUE'])
    expect(config(BASE + 'max_upstream_requests_per_client: 0\n' + ROUTE).maxUpstreamRequestsPerClient).toBe(0)
  })
})

describe("forward_auth_url (Pomerium's forward-auth host)", () => {
  it('names a host and optionally a port', () => {
    const r = load(BASE + 'forward_auth_url: https://ForwardAuth.corp.example\n' + ROUTE)
    if (!('config' in r)) throw new Error(JSON.stringify(r.problems))
    expect(r.config.forwardAuthHost).toEqual({ host: 'forwardauth.corp.example', port: undefined })
    const p = load(BASE + 'forward_auth_url: https://forwardauth.corp.example:443\n' + ROUTE)
    if (!('config' in p)) throw new Error(JSON.stringify(p.problems))
    expect(p.config.forwardAuthHost).toEqual({ host: 'forwardauth.corp.example', port: 443 })
  })
  it('is unset by default', () => {
    const r = load(BASE + ROUTE)
    if (!('config' in r)) throw new Error(JSON.stringify(r.problems))
    expect(r.config.forwardAuthHost).toBeUndefined()
  })
  for (const [what, value, code, message] of [
    ['a path', 'https://fa.corp.example/verify', 'CONFIG_BAD_URL', /host only/],
    ['a query', 'https://fa.corp.example/?uri=x', 'CONFIG_BAD_URL', /host only/],
    ['credentials', 'https://u:p@fa.corp.example', 'CONFIG_BAD_URL', /user information/],
    ['another scheme', 'ftp://fa.corp.example', 'CONFIG_BAD_URL', /http/],
    ['not a URL', 'fa.corp.example', 'CONFIG_BAD_URL', /not a URL/],
    ["a route's host", 'https://app.corp.example', 'CONFIG_BAD_VALUE', /also the host of the route/],
  ] as const)
    it(`refuses ${what}, at the key's position`, () => {
      const ps = problems(BASE + `forward_auth_url: ${value}\n` + ROUTE)
      expect(ps.map((p) => p.code)).toEqual([code])
      expect(ps[0]?.message).toMatch(message)
      expect(ps[0]?.line).toBe(6)
    })
})
