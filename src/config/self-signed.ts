/**
 * A self-signed certificate for the route hosts, made when a config has no
 * certificate_file and no insecure_server (Pomerium does the same rather than
 * refuse to start). EC P-256, ECDSA-SHA256, the hosts as subjectAltNames,
 * serverAuth only, valid for a year. The DER is written here by hand: Node
 * parses X.509 but cannot issue it, and this is the one certificate we make.
 */
import { createPrivateKey, generateKeyPairSync, randomBytes, sign } from 'node:crypto'
import { isIP } from 'node:net'

export interface GeneratedCertificate {
  readonly certificatePem: string
  readonly keyPem: string
}

function len(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n])
  const bytes: number[] = []
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff)
  return Buffer.from([0x80 | bytes.length, ...bytes])
}
const tlv = (tag: number, body: Buffer): Buffer => Buffer.concat([Buffer.from([tag]), len(body.length), body])
const seq = (...items: Buffer[]): Buffer => tlv(0x30, Buffer.concat(items))

function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number)
  const out: number[] = [40 * (arcs[0] ?? 0) + (arcs[1] ?? 0)]
  for (const arc of arcs.slice(2)) {
    const chunk: number[] = [arc & 0x7f]
    for (let v = arc >> 7; v > 0; v >>= 7) chunk.unshift((v & 0x7f) | 0x80)
    out.push(...chunk)
  }
  return tlv(0x06, Buffer.from(out))
}

function utcTime(d: Date): Buffer {
  const p = (n: number): string => String(n).padStart(2, '0')
  const s = `${p(d.getUTCFullYear() % 100)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`
  return tlv(0x17, Buffer.from(s, 'ascii'))
}

function ipBytes(ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split('.').map(Number))
  const [head = '', tail = ''] = ip.split('::')
  const h = head === '' ? [] : head.split(':')
  const t = tail === '' ? [] : tail.split(':')
  const groups = ip.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h
  return Buffer.from(groups.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]))
}

const der = (b: Buffer): string => `${b.toString('base64').replace(/(.{64})/g, '$1\n')}`.replace(/\n?$/, '\n')

/** `hosts`: DNS names (`app.corp.example`, `*.corp.example`) or IP addresses. */
export function generateSelfSigned(hosts: readonly string[], now: Date = new Date()): GeneratedCertificate {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
  const names = hosts.length > 0 ? [...new Set(hosts)] : ['localhost']
  const san = seq(
    ...names.map((h) => {
      const bare = h.replace(/^\[|\]$/g, '')
      return isIP(bare) === 0 ? tlv(0x82, Buffer.from(h, 'ascii')) : tlv(0x87, ipBytes(bare))
    }),
  )
  const name = seq(tlv(0x31, seq(oid('2.5.4.3'), tlv(0x0c, Buffer.from('gatehouse self-signed', 'utf8')))))
  const ecdsaSha256 = seq(oid('1.2.840.10045.4.3.2'))
  const serial = randomBytes(16)
  // DER INTEGER: positive (top bit clear) and minimal (no leading zero byte), so the first byte is 0x40-0x7f.
  serial[0] = ((serial[0] ?? 0) & 0x3f) | 0x40
  const tbs = seq(
    tlv(0xa0, tlv(0x02, Buffer.from([2]))), // v3
    tlv(0x02, serial),
    ecdsaSha256,
    name,
    seq(utcTime(new Date(now.getTime() - 60_000)), utcTime(new Date(now.getTime() + 365 * 86_400_000))),
    name,
    publicKey.export({ type: 'spki', format: 'der' }),
    tlv(
      0xa3,
      seq(
        seq(oid('2.5.29.17'), tlv(0x04, san)),
        seq(oid('2.5.29.37'), tlv(0x04, seq(oid('1.3.6.1.5.5.7.3.1')))),
        seq(oid('2.5.29.19'), tlv(0x04, seq())), // basicConstraints: not a CA
      ),
    ),
  )
  const signature = sign('sha256', tbs, privateKey)
  const cert = seq(tbs, ecdsaSha256, tlv(0x03, Buffer.concat([Buffer.from([0]), signature])))
  const keyPem = createPrivateKey(privateKey.export({ type: 'pkcs8', format: 'pem' }))
    .export({ type: 'pkcs8', format: 'pem' })
    .toString()
  return { certificatePem: `-----BEGIN CERTIFICATE-----\n${der(cert)}-----END CERTIFICATE-----\n`, keyPem }
}
