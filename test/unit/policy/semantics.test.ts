import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { compilePolicy, legacyRules, concatPolicies, parsePolicyText, warningsFor } from '../../../src/policy/index.js'
import { policy, req, who } from './helpers.js'

const crit = (b: boolean): string => (b ? '{accept: true}' : '{reject: true}')

describe('Pomerium operator semantics', () => {
  it('not means none of, nor means not all of, and means all, or means some', () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { minLength: 1, maxLength: 5 }), (bits) => {
        const list = `[${bits.map(crit).join(', ')}]`
        const out = (op: string) => policy(`allow: {${op}: ${list}}`).evaluate(who(), req(), 0).outcome === 'allow'
        expect(out('and')).toBe(bits.every(Boolean))
        expect(out('or')).toBe(bits.some(Boolean))
        expect(out('not')).toBe(bits.every((b) => !b))
        expect(out('nor')).toBe(bits.some((b) => !b))
      }),
    )
  })

  it('deny wins over allow', () => {
    const d = policy('[{allow: {or: [{groups: eng}]}}, {deny: {or: [{email: bob@corp.com}]}}]').evaluate(who(), req(), 0)
    expect(d).toMatchObject({ outcome: 'deny', because: 'deny-matched', rule: 1, criterion: 'email' })
    expect(d.reason).toMatch(/deny rule 1 matched/)
  })

  it('several operators in one block must all hold', () => {
    const p = policy('allow: {and: [{groups: eng}], not: [{email: bob@corp.com}]}')
    expect(p.evaluate(who(), req(), 0).outcome).toBe('deny')
    expect(p.evaluate(who({ email: 'carol@corp.com' }), req(), 0).outcome).toBe('allow')
  })

  it('an anonymous request never gets in through not, nor or a deny that asks who it is', () => {
    expect(policy('allow: {not: [{email: bob@corp.com}]}').evaluate(undefined, req(), 0).outcome).toBe('login')
    expect(policy('allow: {nor: [{groups: a}, {groups: b}]}').evaluate(undefined, req(), 0).outcome).toBe('login')
    expect(policy('[{allow: {or: [{accept: true}]}}, {deny: {or: [{groups: contractors}]}}]').evaluate(undefined, req(), 0).outcome).toBe('login')
    fc.assert(
      fc.property(
        fc.constantFrom('and', 'or', 'not', 'nor'),
        fc.array(fc.constantFrom('{groups: x}', '{email: a@b.c}', '{domain: b.c}', '{user: u}', '{claim/x: y}', '{authenticated_user: true}'), {
          minLength: 1,
          maxLength: 4,
        }),
        (op, cs) => {
          expect(policy(`allow: {${op}: [${cs.join(', ')}]}`).evaluate(undefined, req(), 0).outcome).toBe('login')
        },
      ),
    )
  })

  it('with several allow rules, a denial names the rule that came closest', () => {
    const p = policy(
      '[{allow: {or: [{cors_preflight: true}]}}, {allow: {and: [{groups: eng}, {http_method: {in: [GET, HEAD]}}]}}, {allow: {and: [{groups: admin}]}}]',
    )
    const d = p.evaluate(who(), req({ method: 'POST' }), 0)
    expect(d).toMatchObject({ outcome: 'deny', rule: 1, criterion: 'http_method' })
    expect(d.reason).toBe('no allow rule matched; closest, rule 1: http_method: "POST" is not in [GET, HEAD]')
  })

  it('a policy with no allow rule lets no one in', () => {
    expect(compilePolicy({ rules: [] }).evaluate(who(), req(), 0)).toMatchObject({ outcome: 'deny', rule: -1 })
  })

  it('allow decisions do not depend on who: the same object comes back', () => {
    const p = policy('allow: {or: [{groups: eng}]}')
    expect(p.evaluate(who(), req(), 0)).toBe(p.evaluate(who({ sub: 'x' }), req(), 0))
  })

  it('explain gives the trace rule by rule', () => {
    const { decision, trace } = policy('[{allow: {and: [{groups: admin}, {http_method: GET}]}}]').explain(who(), req(), 0)
    expect(decision.outcome).toBe('deny')
    expect(trace[0]?.criteria.map((c) => c.result)).toEqual(['no-match', 'match'])
  })

  it('warns that nor with several criteria means not all of', () => {
    const r = parsePolicyText('allow: {nor: [{groups: a}, {groups: b}]}')
    if ('problems' in r) throw new Error('parse failed')
    expect(warningsFor(r.ast)[0]?.message).toMatch(/not all of/)
  })
})

describe('legacy route keys', () => {
  const run = (keys: Parameters<typeof legacyRules>[0], w = who(), r = req()) => compilePolicy(legacyRules(keys)).evaluate(w, r, 0)
  it('allow_public_unauthenticated_access lets anyone in without a session', () => {
    const p = compilePolicy(legacyRules({ allowPublicUnauthenticatedAccess: true }))
    expect(p.needsSession).toBe(false)
    expect(p.evaluate(undefined, req(), 0).outcome).toBe('allow')
  })
  it('allow_any_authenticated_user', () => {
    expect(run({ allowAnyAuthenticatedUser: true }).outcome).toBe('allow')
    expect(compilePolicy(legacyRules({ allowAnyAuthenticatedUser: true })).evaluate(undefined, req(), 0).outcome).toBe('login')
  })
  it('allowed_users matches the user id or the email', () => {
    expect(run({ allowedUsers: ['bob@corp.com'] }).outcome).toBe('allow')
    expect(run({ allowedUsers: ['00u-bob'] }).outcome).toBe('allow')
    expect(run({ allowedUsers: ['alice@corp.com'] }).outcome).toBe('deny')
  })
  it('allowed_domains', () => {
    expect(run({ allowedDomains: ['corp.com'] }).outcome).toBe('allow')
    expect(run({ allowedDomains: ['other.com'] }).outcome).toBe('deny')
  })
  it('cors_allow_preflight lets a preflight through anonymously, nothing else', () => {
    const p = compilePolicy(concatPolicies(legacyRules({ corsAllowPreflight: true }), legacyRules({ allowedDomains: ['corp.com'] })))
    expect(p.evaluate(undefined, req({ method: 'OPTIONS', isCorsPreflight: true }), 0).outcome).toBe('allow')
    expect(p.evaluate(undefined, req(), 0).outcome).toBe('login')
  })
})
