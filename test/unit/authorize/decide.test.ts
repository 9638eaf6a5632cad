/**
 * The authorize core, table-driven: host × path × method × session × policy →
 * verdict. Real compiled config and snapshot; the session store and the
 * assertion signer come in through the core's ports (as they do in the server).
 */
import { describe, expect, it } from 'vitest'
import { compileConfigText, type CompiledConfig } from '../../../src/config/index.js'
import { authorize, type AuthorizeDeps } from '../../../src/authorize/decide.js'
import type { RequestFacts } from '../../../src/authorize/facts.js'
import type { ActiveSession, LoadResult } from '../../../src/authorize/ports.js'
import type { Verdict } from '../../../src/authorize/verdict.js'
import { buildSnapshot } from '../../../src/server/lifecycle/snapshot.js'
import { bindingDigest, openSignInRequest } from '../../../src/authorize/authenticate.js'
import { GatehouseError } from '../../../src/errors.js'

const CONFIG = `insecure_server: true
idp_provider_url: https://acme.okta.com/oauth2/default
idp_client_id: 0oa1
idp_client_secret: s3cret
cookie_secret: fBa/6KZJKwft5ejqIxbF/nZrcDrGhtvAVvvm6+2i2Yk=
trusted_proxies: [10.0.0.0/8]
routes:
  - from: http://app.corp.example
    prefix: /admin
    to: http://admin:8080
    policy:
      - allow:
          or:
            - groups: admin
  - from: http://app.corp.example
    to: http://app:8080
    policy:
      - allow:
          or:
            - groups: eng
      - deny:
          or:
            - http_method: DELETE
            - source_ip: 192.0.2.0/24
  - from: http://pub.corp.example
    to: http://pub:8080
    allow_public_unauthenticated_access: true
  - from: https://ws.corp.example
    to: http://ws:8080
    allow_any_authenticated_user: true
    allow_websockets: true
  - from: http://nows.corp.example
    to: http://nows:8080
    allow_any_authenticated_user: true
`

function compile(text = CONFIG): CompiledConfig {
  const r = compileConfigText(text, 'gatehouse.yaml', {})
  if ('problems' in r) throw new Error(JSON.stringify(r.problems))
  return r.config
}

function session(sub: string, groups: string[]): ActiveSession {
  return {
    id: `sid-${sub}`,
    sub,
    email: `${sub}@corp.example`,
    name: sub,
    groups,
    claims: {},
    idToken: 'id',
    accessToken: 'at',
    createdAtMs: 0,
    expiresAtMs: Number.MAX_SAFE_INTEGER,
    version: 1,
  }
}

const ALICE = session('alice', ['admin', 'eng'])
const BOB = session('bob', ['eng'])
const EVE = session('eve', ['sales'])

/** Sessions by cookie value: 'mem:' ones answer from memory (peek), 'store:' ones only after a load, 'down' fails. */
const SESSIONS: Record<string, ActiveSession> = { 'mem-alice': ALICE, 'mem-bob': BOB, 'mem-eve': EVE, 'store-alice': ALICE, 'store-bob': BOB }

const deps: AuthorizeDeps = {
  sessions: {
    peek(cookie): LoadResult | undefined {
      if (cookie === undefined) return { kind: 'none' }
      if (cookie.startsWith('mem-')) {
        const s = SESSIONS[cookie]
        return s === undefined ? { kind: 'none' } : { kind: 'session', session: s }
      }
      return undefined
    },
    async load(cookie): Promise<LoadResult> {
      if (cookie === 'down') throw new GatehouseError('SESSION_STORE_UNAVAILABLE', 'store down')
      const s = cookie === undefined ? undefined : SESSIONS[cookie]
      return s === undefined ? { kind: 'none' } : { kind: 'session', session: s }
    },
  },
  signer: {
    cached: (s, aud) => (s.sub === 'alice' ? `cached:${s.sub}@${aud}` : undefined),
    assertionFor: async (s, aud) => `signed:${s.sub}@${aud}`,
  },
  now: () => Date.parse('2026-12-02T12:00:00Z'),
}

function facts(o: {
  host?: string
  path?: string
  method?: string
  cookie?: string
  peer?: string
  xff?: string
  ws?: boolean
  scheme?: 'http' | 'https'
}): RequestFacts {
  const headers: Record<string, string> = {}
  if (o.cookie !== undefined) headers.cookie = `other=1; ${o.scheme === 'https' ? '__Host-' : ''}_gatehouse=${o.cookie}`
  if (o.xff !== undefined) headers['x-forwarded-for'] = o.xff
  return {
    method: o.method ?? 'GET',
    scheme: o.scheme ?? 'http',
    host: o.host ?? 'app.corp.example',
    target: o.path ?? '/',
    peer: o.peer ?? '127.0.0.1',
    headers,
    isWebSocket: o.ws ?? false,
  }
}

/** The verdict in a few words: kind, then what decided it. */
function summary(v: Verdict): string {
  switch (v.kind) {
    case 'allow':
      return `allow ${v.target.route.id} as ${v.session?.sub ?? '-'}${v.assertion === undefined ? '' : ` with ${v.assertion}`}`
    case 'deny':
      return `deny ${v.target.route.id} ${v.criterion}: ${v.reason}`
    case 'sign-in':
      return `sign-in ${v.signInUrl}`
    case 'endpoint':
      return `endpoint ${v.path}`
    case 'bad-request':
      return `bad-request ${v.message}`
    case 'store-down':
      return `store-down ${v.target.route.id}`
    default:
      return v.kind
  }
}

interface Case {
  readonly name: string
  readonly req: Parameters<typeof facts>[0]
  /** A string: the summary must equal it; a RegExp: must match. */
  readonly want: string | RegExp
  /** Whether the verdict comes without a promise (in-memory session and assertion, or no session needed). */
  readonly sync?: boolean
}

const cases: Case[] = [
  // host × path: route matching
  { name: 'unknown host', req: { host: 'other.corp.example' }, want: 'not-found', sync: true },
  { name: 'no Host', req: { host: '' }, want: /^bad-request The Host header/, sync: true },
  { name: 'a Host with a bad port', req: { host: 'app.corp.example:99999' }, want: /^bad-request The Host header/, sync: true },
  { name: 'host letter case and trailing dot', req: { host: 'APP.corp.example.', cookie: 'mem-bob' }, want: /^allow app\.corp\.example as bob/, sync: false },
  {
    name: 'an explicit default port',
    req: { host: 'app.corp.example:80', cookie: 'mem-alice' },
    want: /^allow app\.corp\.example as alice with cached:alice@app\.corp\.example$/,
    sync: true,
  },
  { name: 'JWKS on any route host', req: { path: '/.well-known/gatehouse/jwks.json' }, want: 'jwks', sync: true },
  { name: "Pomerium's JWKS path", req: { host: 'pub.corp.example', path: '/.well-known/pomerium/jwks.json' }, want: 'jwks', sync: true },
  { name: 'a gatehouse endpoint', req: { path: '/.gatehouse/sign_in?rd=/x' }, want: 'endpoint /.gatehouse/sign_in', sync: true },
  { name: 'the user page without its slash', req: { path: '/.gatehouse' }, want: 'endpoint /.gatehouse', sync: true },
  // path tricks: the same 400 for every front end
  { name: 'encoded slash', req: { path: '/admin%2fx', cookie: 'mem-alice' }, want: /^bad-request The request path was refused/, sync: true },
  { name: 'dot-dot-semicolon', req: { path: '/x/..;/admin', cookie: 'mem-bob' }, want: /^bad-request/, sync: true },
  { name: 'an encoded NUL', req: { path: '/x%00/admin', cookie: 'mem-alice' }, want: /^bad-request/, sync: true },
  {
    name: 'dot segments resolve before matching',
    req: { path: '/public/../admin/users', cookie: 'mem-bob' },
    want: /^deny app\.corp\.example\/admin groups:/,
    sync: true,
  },
  {
    name: 'percent-encoded letters decode before matching',
    req: { path: '/%61dmin', cookie: 'mem-bob' },
    want: /^deny app\.corp\.example\/admin groups:/,
    sync: true,
  },
  {
    name: 'letter case differs from a route path',
    req: { path: '/ADMIN', cookie: 'mem-bob' },
    want: /^bad-request The request path differs only in letter case/,
    sync: true,
  },
  // session × policy
  {
    name: 'no cookie on a protected route',
    req: { path: '/x?y=1' },
    want: 'sign-in http://app.corp.example/.gatehouse/sign_in?rd=http%3A%2F%2Fapp.corp.example%2Fx%3Fy%3D1',
    sync: true,
  },
  { name: 'an unknown cookie', req: { cookie: 'mem-nobody' }, want: /^sign-in /, sync: true },
  { name: 'member of the allowed group', req: { cookie: 'mem-bob' }, want: 'allow app.corp.example as bob with signed:bob@app.corp.example', sync: false },
  { name: 'not a member', req: { cookie: 'mem-eve' }, want: /^deny app\.corp\.example groups: .*"eng"/, sync: true },
  {
    name: 'admin prefix, admin member',
    req: { path: '/admin/users', cookie: 'mem-alice' },
    want: /^allow app\.corp\.example\/admin as alice with cached:/,
    sync: true,
  },
  { name: 'admin prefix, eng only', req: { path: '/admin/users', cookie: 'mem-bob' }, want: /^deny app\.corp\.example\/admin groups: /, sync: true },
  {
    name: 'a session that must be loaded from the store',
    req: { cookie: 'store-alice' },
    want: /^allow app\.corp\.example as alice with cached:/,
    sync: false,
  },
  { name: 'store down on a protected route', req: { cookie: 'down' }, want: 'store-down app.corp.example', sync: false },
  { name: 'store down on a public route', req: { host: 'pub.corp.example', cookie: 'down' }, want: 'allow pub.corp.example as -', sync: true },
  { name: 'public route, no session', req: { host: 'pub.corp.example', path: '/anything' }, want: 'allow pub.corp.example as -', sync: true },
  // method and source address
  { name: 'DELETE is denied for everyone', req: { method: 'DELETE', cookie: 'mem-alice' }, want: /^deny app\.corp\.example http_method: /, sync: true },
  { name: 'a denied client network', req: { cookie: 'mem-alice', peer: '192.0.2.9' }, want: /^deny app\.corp\.example source_ip: /, sync: true },
  { name: 'X-Forwarded-For from an untrusted peer is ignored', req: { cookie: 'mem-alice', xff: '192.0.2.9' }, want: /^allow /, sync: true },
  {
    name: 'X-Forwarded-For from a trusted proxy is believed',
    req: { cookie: 'mem-alice', peer: '10.1.1.1', xff: '192.0.2.9' },
    want: /^deny app\.corp\.example source_ip: /,
    sync: true,
  },
  // WebSockets
  {
    name: 'WebSocket on a route that allows it',
    req: { host: 'ws.corp.example', ws: true, cookie: 'mem-alice', scheme: 'https' },
    want: /^allow ws\.corp\.example as alice/,
    sync: true,
  },
  {
    name: 'WebSocket on a route that does not',
    req: { host: 'nows.corp.example', ws: true, cookie: 'mem-alice' },
    want: /^deny nows\.corp\.example allow_websockets: /,
    sync: true,
  },
  {
    name: 'WebSocket without a session',
    req: { host: 'ws.corp.example', ws: true, scheme: 'https' },
    want: /^sign-in https:\/\/ws\.corp\.example\//,
    sync: true,
  },
]

describe('authorize: host × path × method × session × policy → verdict', () => {
  const snap = buildSnapshot(compile())
  for (const c of cases) {
    it(c.name, async () => {
      const out = authorize(deps, snap, facts(c.req))
      if (c.sync !== undefined) expect(!(out instanceof Promise), 'answered without a promise').toBe(c.sync)
      const got = summary(await out)
      if (typeof c.want === 'string') expect(got).toBe(c.want)
      else expect(got).toMatch(c.want)
    })
  }

  it('the session cookie on an https route host is the __Host- one', async () => {
    const f = facts({ host: 'ws.corp.example', scheme: 'https' })
    const withPlain = await authorize(deps, snap, { ...f, headers: { cookie: '_gatehouse=mem-alice' } })
    const withHost = await authorize(deps, snap, { ...f, headers: { cookie: '__Host-_gatehouse=mem-alice' } })
    expect(summary(withPlain)).toMatch(/^sign-in /)
    expect(summary(withHost)).toMatch(/^allow .* as alice/)
  })

  it('a request keeps the snapshot it was given: a new config does not change its verdict', async () => {
    const old = buildSnapshot(compile())
    const fresh = buildSnapshot(compile(CONFIG.replace('- groups: eng', '- groups: nobody')))
    expect(summary(await authorize(deps, old, facts({ cookie: 'mem-bob' })))).toMatch(/^allow /)
    expect(summary(await authorize(deps, fresh, facts({ cookie: 'mem-bob' })))).toMatch(/^deny /)
  })
})

describe('authorize with a sign-in host (authenticate_service_url)', () => {
  const snap = buildSnapshot(compile(CONFIG.replace('routes:', 'authenticate_service_url: https://authenticate.corp.example\nroutes:')))
  const key = snap.authenticate?.requestKey ?? Buffer.alloc(32)

  it('"sign in first" points a browser at the sign-in host with a signed request for this very URL', async () => {
    const v = await authorize(deps, snap, facts({ host: 'ws.corp.example', scheme: 'https', path: '/deep/page?x=1' }))
    if (v.kind !== 'sign-in') throw new Error(summary(v))
    // Any client can still open the route host's own sign_in.
    expect(v.signInUrl).toBe('https://ws.corp.example/.gatehouse/sign_in?rd=https%3A%2F%2Fws.corp.example%2Fdeep%2Fpage%3Fx%3D1')
    const hop = new URL(v.handoff?.url ?? '')
    expect(hop.origin + hop.pathname).toBe('https://authenticate.corp.example/.gatehouse/sign_in')
    const req = openSignInRequest(key, hop.searchParams.get('request'), deps.now())
    expect(req).toMatchObject({ host: 'ws.corp.example', scheme: 'https', returnTo: 'https://ws.corp.example/deep/page?x=1' })
    expect(req?.binding).toBe(bindingDigest(v.handoff?.binding ?? ''))
    // Tampered or expired: nothing.
    expect(openSignInRequest(key, hop.searchParams.get('request'), deps.now() + 3 * 60_000)).toBeUndefined()
    expect(openSignInRequest(Buffer.alloc(32, 1), hop.searchParams.get('request'), deps.now())).toBeUndefined()
  })

  it('without it the verdict has no hop (per-host sign-in, unchanged)', async () => {
    const v = await authorize(deps, buildSnapshot(compile()), facts({ host: 'ws.corp.example', scheme: 'https' }))
    expect(v.kind === 'sign-in' && v.handoff).toBeUndefined()
  })

  it('the sign-in host is an endpoint of its own for every path, never a route', async () => {
    for (const path of ['/oauth2/callback', '/', '/anything']) {
      const v = await authorize(deps, snap, facts({ host: 'authenticate.corp.example', scheme: 'https', path }))
      expect(v.kind === 'endpoint' && v.on === 'authenticate' && v.path === path, path).toBe(true)
    }
  })
})
