import { describe, it, expect } from 'vitest'
import { createClientAddressResolver } from '../../../src/proxy/client-address.js'
import { createUpstreamPicker } from '../../../src/proxy/upstream-picker.js'

describe('client address', () => {
  const spoof = { 'x-forwarded-for': '1.2.3.4', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.com' }

  it('ignores X-Forwarded-* from an untrusted peer (the default)', () => {
    const r = createClientAddressResolver([]).resolve('::ffff:10.0.0.9', spoof, 'http', 'app.example.com')
    expect(r).toEqual({ clientIp: '10.0.0.9', forwardedFor: '10.0.0.9', proto: 'http', host: 'app.example.com' })
  })

  it('believes a trusted proxy and walks X-Forwarded-For from the right', () => {
    const r = createClientAddressResolver(['10.0.0.0/8', 'fd00::/8']).resolve(
      '10.0.0.9',
      { ...spoof, 'x-forwarded-for': '6.6.6.6, 1.2.3.4, 10.1.1.1' },
      'http',
      'a',
    )
    expect(r.clientIp).toBe('1.2.3.4')
    expect(r.forwardedFor).toBe('6.6.6.6, 1.2.3.4, 10.1.1.1, 10.0.0.9')
    expect(r.proto).toBe('https')
    expect(r.host).toBe('evil.com')
  })

  it('handles IPv6 peers and single addresses', () => {
    const res = createClientAddressResolver(['::1'])
    expect(res.isTrusted('::1')).toBe(true)
    expect(res.isTrusted('::2')).toBe(false)
    expect(res.isTrusted('not-an-ip')).toBe(false)
  })
})

describe('upstream picker', () => {
  it('spreads by weight, smoothly', () => {
    const u = (h: string, weight: number) => ({ url: new URL(`http://${h}`), weight })
    const p = createUpstreamPicker([u('a', 5), u('b', 1), u('c', 1)])
    const seq = Array.from({ length: 7 }, () => p.next().url.hostname).join('')
    expect(seq).toBe('aabacaa')
  })
})
