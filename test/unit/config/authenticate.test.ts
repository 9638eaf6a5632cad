import { describe, expect, it } from 'vitest'
import { BASE_CONFIG, compileText, problemsOf } from '../../helpers/config-text.js'
import { redirectUris } from '../../../src/commands/check-online.js'

const BASE = BASE_CONFIG
const ROUTES = `routes:
  - from: https://app.corp.example
    to: http://app:8080
    allow_any_authenticated_user: true
  - from: https://wiki.other.example
    to: http://wiki:8080
    allow_any_authenticated_user: true
`
const load = compileText
const problems = problemsOf

describe('authenticate_service_url', () => {
  it('an https origin is the sign-in host; the Okta app needs exactly its two redirect URIs', () => {
    const r = load(`${BASE}authenticate_service_url: https://authenticate.corp.example\n${ROUTES}`)
    if (!('config' in r)) throw new Error(JSON.stringify(r.problems))
    expect(r.config.authenticate).toMatchObject({
      origin: 'https://authenticate.corp.example',
      hostname: 'authenticate.corp.example',
      port: undefined,
      scheme: 'https',
    })
    expect(r.warnings.map((w) => w.path)).not.toContain('authenticate_service_url')
    expect(redirectUris(r.config)).toEqual({
      signIn: ['https://authenticate.corp.example/oauth2/callback'],
      signOut: ['https://authenticate.corp.example/.gatehouse/signed_out'],
    })
  })

  it('without it, every route host keeps its own pair (unchanged)', () => {
    const r = load(`${BASE}${ROUTES}`)
    if (!('config' in r)) throw new Error(JSON.stringify(r.problems))
    expect(r.config.authenticate).toBeUndefined()
    expect(redirectUris(r.config).signIn).toEqual(['https://app.corp.example/.gatehouse/callback', 'https://wiki.other.example/.gatehouse/callback'])
  })

  const bad: Array<[string, string, RegExp]> = [
    ['a path', 'https://authenticate.corp.example/oauth2', /must not have a path/],
    ['a query', 'https://authenticate.corp.example/?x=1', /must not have a query/],
    ['a fragment', 'https://authenticate.corp.example/#x', /must not have a query or fragment/],
    ['plain http to a real host', 'http://authenticate.corp.example', /must be an https:\/\/ URL/],
    ['not a URL', 'authenticate.corp.example', /is not a URL/],
    ['credentials', 'https://u:p@authenticate.corp.example', /credentials/],
  ]
  for (const [what, value, message] of bad)
    it(`refuses ${what}, at its position`, () => {
      const ps = problems(`${BASE}authenticate_service_url: ${value}\n${ROUTES}`)
      expect(ps).toHaveLength(1)
      expect(ps[0]).toMatchObject({ line: 6, col: 27, path: 'authenticate_service_url', code: 'CONFIG_BAD_URL' })
      expect(ps[0]?.message).toMatch(message)
    })

  it('accepts plain http for localhost names (local use)', () => {
    const r = load(`${BASE}authenticate_service_url: http://authenticate.localhost:8000\n${ROUTES}`)
    expect('config' in r && r.config.authenticate?.port).toBe(8000)
  })

  it('refuses a route whose from names the sign-in host, at that from', () => {
    const ps = problems(`${BASE}authenticate_service_url: https://authenticate.corp.example\n${ROUTES}  - from: https://Authenticate.corp.example:8443
    to: http://x:1
    allow_any_authenticated_user: true
`)
    expect(ps.map((p) => `${p.line}:${p.col} ${p.path} ${p.code}`)).toEqual(['14:11 routes[2].from CONFIG_CONFLICT'])
    expect(ps[0]?.message).toMatch(/host of authenticate_service_url/)
  })

  it('makes route cookies host-only: cookie_domain is ignored with a warning', () => {
    const r = load(`${BASE}cookie_domain: corp.example\nauthenticate_service_url: https://authenticate.corp.example\n${ROUTES}`)
    if (!('config' in r)) throw new Error(JSON.stringify(r.problems))
    expect(r.config.cookie.domain).toBeUndefined()
    expect(r.warnings.find((w) => w.path === 'cookie_domain')?.message).toMatch(/ignored with authenticate_service_url/)
  })
})
