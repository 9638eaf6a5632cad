/**
 * Route regexes run on paths an anonymous client chooses (up to 8 KB): they
 * run in a linear-time engine (RE2 semantics), constructs that need
 * backtracking are refused at load with their position, and the case and
 * trailing-slash rules cost no second pass with the pattern.
 */
import { describe, expect, it } from 'vitest'
import { compileConfigText, type CompiledConfig } from '../../src/config/index.js'

function configWith(regex: string): ReturnType<typeof compileConfigText> {
  return compileConfigText(
    `insecure_server: true
idp_provider_url: https://acme.okta.com
idp_client_id: x
idp_client_secret: y
cookie_secret: ${Buffer.alloc(32, 1).toString('base64')}
routes:
  - from: https://app.corp.example
    to: http://app:8080
    regex: ${JSON.stringify(regex)}
    allow_public_unauthenticated_access: true
`,
    'gatehouse.yaml',
    {},
  )
}

function compiled(regex: string): CompiledConfig {
  const r = configWith(regex)
  if (!('config' in r)) throw new Error(JSON.stringify(r.problems))
  return r.config
}

describe('route regexes', () => {
  for (const [pattern, what] of [
    ['/(a)\\1', 'a backreference'],
    ['/(?=admin).*', 'a lookahead'],
    ['/(?!public).*', 'a negative lookahead'],
  ] as const) {
    it(`refuses ${what} at load, with its position and what to write instead`, () => {
      const r = configWith(pattern)
      if (!('problems' in r)) throw new Error(`${pattern} was accepted`)
      const p = r.problems.find((x) => x.code === 'CONFIG_BAD_REGEX')
      expect(p, JSON.stringify(r.problems)).toMatchObject({ line: 9, col: 12, path: 'routes[0].regex' })
      expect(p?.hint).toMatch(/RE2/)
    })
  }

  it('a pattern that backtracks exponentially answers an 8 KB hostile path (RE2 runs in linear time)', () => {
    const t = compiled('/(a+)+b').routeTable
    expect(t.find('app.corp.example', 443, '/' + 'a'.repeat(8000) + 'c').kind).toBe('none')
    expect(t.find('app.corp.example', 443, '/' + 'A'.repeat(8000) + 'c').kind).toBe('none')
    expect(t.find('app.corp.example', 443, '/aaab').kind).toBe('route')
  })

  it('matches the whole path, with or without one trailing slash, and keeps paths case-sensitive', () => {
    const t = compiled('/reports/[0-9]+').routeTable
    expect(t.find('app.corp.example', 443, '/reports/7').kind).toBe('route')
    expect(t.find('app.corp.example', 443, '/reports/7/').kind).toBe('route')
    expect(t.find('app.corp.example', 443, '/reports/7//').kind).toBe('none')
    expect(t.find('app.corp.example', 443, '/reports/7/x').kind).toBe('none')
    expect(t.find('app.corp.example', 443, '/x/reports/7').kind).toBe('none')
    expect(t.find('app.corp.example', 443, '/Reports/7').kind).toBe('none')
  })
})
