import { describe, it, expect } from 'vitest'
import fc from 'fast-check'
import { canonicalPath, normalizeRequestPath } from '../../../src/proxy/path.js'

describe('normalizeRequestPath', () => {
  const ok: Array<[string, string, string]> = [
    ['/', '/', ''],
    ['/admin', '/admin', ''],
    ['/admin/', '/admin/', ''],
    ['/public/../admin', '/admin', ''],
    ['/public/%2e%2e/admin', '/admin', ''],
    ['/public/%2E%2E/admin', '/admin', ''],
    ['/public/.%2e/admin', '/admin', ''],
    ['/a/./b', '/a/b', ''],
    ['//admin', '/admin', ''],
    ['/a//b', '/a/b', ''],
    ['/%61dmin', '/admin', ''],
    ['/a%20b', '/a%20b', ''],
    ['/a%3fb', '/a%3Fb', ''],
    ['/public%23/../admin', '/admin', ''],
    ['/../../etc', '/etc', ''],
    ['/x?y=/../z', '/x', '?y=/../z'],
    ['/a/..', '/', ''],
    ['/a%2520b', '/a%2520b', ''],
  ]
  for (const [input, path, query] of ok) {
    it(`accepts ${JSON.stringify(input)} as ${path}`, () => {
      expect(normalizeRequestPath(input)).toEqual({ ok: true, path, query })
    })
  }

  // The route decides on path parameters (a servlet container strips them): reported, not refused, here.
  for (const [input, path] of [
    ['/admin;x=1', '/admin;x=1'],
    ['/;x/admin', '/;x/admin'],
    ['/a%3bb', '/a%3Bb'],
  ]) {
    it(`reports the path parameters in ${JSON.stringify(input)}`, () => {
      expect(normalizeRequestPath(input as string)).toEqual({ ok: true, path, query: '', hasParams: true })
    })
  }

  const refused: Array<[string, RegExp]> = [
    ['/admin%2f', /encoded slash/],
    ['/admin%2F..%2Fx', /encoded slash/],
    ['/a%5cb', /encoded backslash/],
    ['/a\\b', /backslash/],
    ['/..;/admin', /\.\.;/],
    ['/a/..;x/admin', /\.\.;/],
    ['/a/..%3bx/admin', /\.\.;/],
    ['/public/%252e%252e/admin', /double-encoded/],
    ['/public/%252E%252E/admin', /double-encoded/],
    ['/a/%252fadmin', /double-encoded/],
    ['/a/%255Cadmin', /double-encoded/],
    ['/a/%25%32%65%25%32%65/admin', /double-encoded/],
    ['/a/%25252e/admin', /double-encoded/],
    ['/admin%253bx', /double-encoded/],
    ['/admin%253Fx', /double-encoded/],
    ['/admin%2523x', /double-encoded/],
    ['/admin%2500', /double-encoded/],
    ['/a%00b', /control/],
    ['/a%zzb', /invalid percent/],
    ['/a%', /invalid percent/],
    ['/a%4', /invalid percent/],
    ['http://evil.com/', /must start/],
    ['*', /must start/],
    ['/a#b', /fragment/],
    ['/' + 'a'.repeat(9000), /too long/],
  ]
  for (const [input, reason] of refused) {
    it(`refuses ${JSON.stringify(input.slice(0, 40))}`, () => {
      const r = normalizeRequestPath(input)
      expect(r.ok).toBe(false)
      if (!r.ok) expect(r.reason).toMatch(reason)
    })
  }

  it('is idempotent and never leaves a dot segment or empty inner segment', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.constantFrom('.', '..', '%2e', '%2E%2e', '', 'a', 'admin', '%41', ';x'), fc.webSegment()), { maxLength: 8 }), (segs) => {
        const r = normalizeRequestPath('/' + segs.join('/'))
        if (!r.ok) return
        expect(normalizeRequestPath(r.path)).toEqual(r)
        const inner = r.path.split('/').slice(1, -1)
        for (const s of inner) {
          expect(s).not.toBe('')
          expect(s).not.toBe('.')
          expect(s).not.toBe('..')
        }
      }),
    )
  })

  it('never throws on any string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        normalizeRequestPath('/' + s)
      }),
    )
  })

  it('the one-scan fast path gives exactly what the full canonicalisation gives', () => {
    // Paths built from the characters that matter: slashes, dots, escapes, ';', '#', '\\', controls, non-ASCII.
    const piece = fc.constantFrom(
      '/',
      '.',
      '..',
      '%2e',
      '%2F',
      '%41',
      '%',
      ';',
      '#',
      '\\',
      '\u0000',
      '\u007f',
      ' ',
      'é',
      'a',
      'B',
      '~',
      '-',
      '_',
      '@',
      ':',
      '!',
    )
    const path = fc.array(piece, { maxLength: 12 }).map((p) => '/' + p.join(''))
    fc.assert(
      fc.property(
        fc.oneof(
          path,
          // A '?' would start the query in one call and not the other: not a path character.
          fc.string({ unit: 'binary' }).map((s) => '/' + s.replace(/\?/g, '')),
        ),
        (p) => {
          expect(normalizeRequestPath(p + '?q=1')).toEqual(canonicalPath(p, '?q=1'))
        },
      ),
      { numRuns: 5000 },
    )
  })
})
