import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { createClientShares } from '../../../src/proxy/client-shares.js'

describe('client shares of an upstream origin', () => {
  it('gives one client at most `limit` places per origin, others their own, and takes them back once', () => {
    const shares = createClientShares()
    const held = Array.from({ length: 3 }, () => shares.take('http://up:1', '10.0.0.1', 3))
    expect(held.every((r) => r !== undefined)).toBe(true)
    expect(shares.take('http://up:1', '10.0.0.1', 3)).toBeUndefined()
    expect(shares.take('http://up:1', '10.0.0.2', 3)).toBeDefined()
    expect(shares.take('http://up:2', '10.0.0.1', 3)).toBeDefined()
    held[0]?.()
    held[0]?.()
    expect(shares.inFlight('http://up:1', '10.0.0.1')).toBe(2)
    expect(shares.take('http://up:1', '10.0.0.1', 3)).toBeDefined()
    expect(shares.take('http://up:1', '10.0.0.1', 3)).toBeUndefined()
  })

  it('a limit of 0 means no limit', () => {
    const shares = createClientShares()
    for (let i = 0; i < 1000; i++) expect(shares.take('http://up:1', '10.0.0.1', 0)).toBeDefined()
  })

  it('for any sequence of takes and releases, the count never passes the limit and ends at zero', () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { maxLength: 200 }), fc.integer({ min: 1, max: 8 }), (ops, limit) => {
        const shares = createClientShares()
        const open: Array<() => void> = []
        for (const take of ops) {
          if (take) {
            const r = shares.take('o', 'c', limit)
            if (r !== undefined) open.push(r)
          } else open.pop()?.()
          expect(shares.inFlight('o', 'c')).toBe(open.length)
          expect(open.length).toBeLessThanOrEqual(limit)
        }
        for (const r of open) r()
        expect(shares.inFlight('o', 'c')).toBe(0)
      }),
    )
  })
})
