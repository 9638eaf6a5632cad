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

  it('xff_num_trusted_hops: the client is the Nth entry from the right, the peer when there are fewer', () => {
    const cases = [
      { name: 'one hop, the balancer appended the client', hops: 1, xff: '192.0.2.66, 10.1.2.3', want: '10.1.2.3' },
      { name: 'two hops', hops: 2, xff: '6.6.6.6, 203.0.113.7, 10.0.0.2', want: '203.0.113.7' },
      { name: 'fewer entries than hops', hops: 2, xff: '10.1.2.3', want: '127.0.0.1' },
      { name: 'no header', hops: 1, xff: undefined, want: '127.0.0.1' },
      { name: 'garbage where the address should be', hops: 1, xff: '10.1.2.3, not-an-ip', want: '127.0.0.1' },
    ]
    for (const c of cases) {
      const r = createClientAddressResolver([], c.hops).resolve('127.0.0.1', c.xff === undefined ? {} : { 'x-forwarded-for': c.xff }, 'https', 'a')
      expect({ name: c.name, ip: r.clientIp }).toEqual({ name: c.name, ip: c.want })
    }
    const r = createClientAddressResolver([], 1).resolve('127.0.0.1', { 'x-forwarded-for': '1.2.3.4', 'x-forwarded-proto': 'http, https' }, 'http', 'a')
    expect(r.forwardedFor).toBe('1.2.3.4, 127.0.0.1')
    expect(r.proto).toBe('https')
    // Zero (the default) believes nothing.
    expect(createClientAddressResolver([], 0).resolve('127.0.0.1', { 'x-forwarded-for': '1.2.3.4' }, 'http', 'a').clientIp).toBe('127.0.0.1')
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
