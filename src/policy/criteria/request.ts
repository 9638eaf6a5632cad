/** Criteria that read only the request: accept, reject, http_method, http_path, source_ip, cors_preflight. */
import { BlockList, isIP } from 'node:net'
import { compileStringMatcher } from '../matchers.js'
import type { CriterionDef } from './types.js'

export const accept: CriterionDef = {
  name: 'accept',
  needsSession: false,
  compile(value, name, problem) {
    if (value !== true) problem('accept takes the value true')
    return { name, needsSession: false, fact: undefined, test: () => true, describe: () => 'accept: everyone' }
  },
}

export const reject: CriterionDef = {
  name: 'reject',
  needsSession: false,
  compile(value, name, problem) {
    if (value !== true) problem('reject takes the value true')
    return { name, needsSession: false, fact: undefined, test: () => false, describe: () => 'reject: no one' }
  },
}

export const httpMethod: CriterionDef = {
  name: 'http_method',
  needsSession: false,
  compile(value, name, problem) {
    const m = compileStringMatcher(value, problem, (s) => s.toUpperCase())
    if (m === undefined) return undefined
    return {
      name,
      needsSession: false,
      fact: undefined,
      test: (_w, req) => m.test(req.method),
      describe: (_w, req, _n, ok) => `http_method: ${JSON.stringify(req.method)} ${ok ? m.text : m.negText}`,
      own: (_w, req) => JSON.stringify(req.method),
    }
  },
}

export const httpPath: CriterionDef = {
  name: 'http_path',
  needsSession: false,
  compile(value, name, problem) {
    const m = compileStringMatcher(value, problem)
    if (m === undefined) return undefined
    return {
      name,
      needsSession: false,
      fact: undefined,
      test: (_w, req) => m.test(req.path),
      describe: (_w, req, _n, ok) => `http_path: ${JSON.stringify(req.path)} ${ok ? m.text : m.negText}`,
      own: (_w, req) => JSON.stringify(req.path),
    }
  },
}

function unmap(addr: string): string {
  return addr.startsWith('::ffff:') && isIP(addr.slice(7)) === 4 ? addr.slice(7) : addr
}

export const sourceIp: CriterionDef = {
  name: 'source_ip',
  needsSession: false,
  compile(value, name, problem) {
    const entries = Array.isArray(value) ? value : [value]
    const list = new BlockList()
    const texts: string[] = []
    for (const e of entries) {
      if (typeof e !== 'string') {
        problem('source_ip takes an address, a CIDR, or a list of them')
        return undefined
      }
      const [addrRaw, bitsRaw, extra] = e.split('/')
      const addr = unmap((addrRaw ?? '').trim())
      const family = isIP(addr)
      const bits = bitsRaw === undefined ? undefined : Number(bitsRaw)
      if (family === 0 || extra !== undefined || (bits !== undefined && (!Number.isInteger(bits) || bits < 0 || bits > (family === 4 ? 32 : 128)))) {
        problem(`"${e}" is not an IP address or CIDR`, 'for example 10.0.0.0/8 or 2001:db8::/32')
        return undefined
      }
      const type = family === 4 ? 'ipv4' : 'ipv6'
      if (bits === undefined) list.addAddress(addr, type)
      else list.addSubnet(addr, bits, type)
      texts.push(e)
    }
    const text = texts.length === 1 ? (texts[0] as string) : `[${texts.join(', ')}]`
    return {
      name,
      needsSession: false,
      fact: undefined,
      test: (_w, req) => {
        const a = unmap(req.sourceIp)
        const f = isIP(a)
        return f !== 0 && list.check(a, f === 4 ? 'ipv4' : 'ipv6')
      },
      describe: (_w, req, _n, ok) => `source_ip: ${req.sourceIp} is ${ok ? '' : 'not '}in ${text}`,
      own: (_w, req) => req.sourceIp,
    }
  },
}

export const corsPreflight: CriterionDef = {
  name: 'cors_preflight',
  needsSession: false,
  compile(value, name, problem) {
    if (value !== true) problem('cors_preflight takes the value true')
    return {
      name,
      needsSession: false,
      fact: undefined,
      test: (_w, req) => req.isCorsPreflight,
      describe: (_w, _r, _n, ok) => `cors_preflight: the request is ${ok ? '' : 'not '}a CORS preflight`,
      own: (_w, req) => (req.isCorsPreflight ? 'a CORS preflight' : 'not a CORS preflight'),
    }
  },
}
