import { compilePolicy, parsePolicyText, type CompiledPolicy, type Identity, type RequestFacts } from '../../../src/policy/index.js'

export function policy(yaml: string): CompiledPolicy {
  const r = parsePolicyText(yaml)
  if ('problems' in r) throw new Error(`policy did not parse: ${JSON.stringify(r.problems)}`)
  return compilePolicy(r.ast)
}

export function who(over: Partial<Identity> = {}): Identity {
  return { sub: '00u-bob', email: 'bob@corp.com', name: 'Bob', groups: ['eng'], claims: {}, ...over }
}

export function req(over: Partial<RequestFacts> = {}): RequestFacts {
  return { method: 'GET', path: '/', sourceIp: '10.1.2.3', isCorsPreflight: false, ...over }
}

export const NOON_UTC_WEDNESDAY = Date.parse('2026-11-25T12:00:00Z')
