import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { randomBytes } from 'node:crypto'
import { decodeTicket, deriveKey, encodeTicket, newTicket } from '../../../src/session/ticket.js'

const key = deriveKey(randomBytes(32), 'gatehouse cookie v1')

describe('session ticket', () => {
  it('round-trips', () => {
    const t = newTicket()
    const back = decodeTicket(encodeTicket(t, key), key)
    expect(back?.id).toBe(t.id)
    expect(Buffer.from(back?.secret ?? []).equals(Buffer.from(t.secret))).toBe(true)
  })

  it('fails on any flipped bit', () => {
    const sealed = Buffer.from(encodeTicket(newTicket(), key), 'base64url')
    fc.assert(
      fc.property(fc.integer({ min: 0, max: sealed.length * 8 - 1 }), (bit) => {
        const copy = Buffer.from(sealed)
        copy[bit >> 3] = (copy[bit >> 3] as number) ^ (1 << (bit & 7))
        expect(decodeTicket(copy.toString('base64url'), key)).toBeUndefined()
      }),
    )
  })

  it('decodes any string to a ticket or undefined, never throwing', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.string({ unit: 'binary', maxLength: 5000 }),
          fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString('base64url')),
        ),
        (s) => {
          expect(decodeTicket(s, key)).toBeUndefined()
        },
      ),
      { numRuns: 3000 },
    )
  })
})
