import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import type { Identity, UnknownFacts } from '../../../src/policy/index.js'
import { policy, req, who } from './helpers.js'

const INCOMPLETE = "the groups from Okta may be incomplete (100 groups, the claim's cap)"
const MACHINE: UnknownFacts = { email: 'a machine token has no email', user: 'a machine token has no user', groups: 'a machine token has no groups' }

/** A client-credentials token as the policy sees it: authenticated, with claims, and nothing about a person. */
const machine = (claims: Record<string, unknown> = {}): Identity => ({
  sub: '0oa-bot',
  email: undefined,
  name: undefined,
  groups: [],
  claims: { cid: '0oa-bot', scp: ['reports.read'], ...claims },
  unknown: MACHINE,
})

/** A user whose groups claim was cut at Okta's cap of 100. */
const capped = (groups: string[] = ['eng', 'contractors']): Identity => who({ groups, unknown: { groups: INCOMPLETE } })

describe('unknown user facts', () => {
  const cases = [
    { name: 'allow on incomplete groups does not allow', yaml: 'allow: {and: [{groups: eng}]}', who: capped(), want: 'deny' },
    { name: 'allow on a group the cut list lacks does not allow', yaml: 'allow: {and: [{groups: admin}]}', who: capped(), want: 'deny' },
    {
      name: 'deny on incomplete groups denies',
      yaml: '[{allow: {or: [{accept: true}]}}, {deny: {or: [{groups: contractors}]}}]',
      who: capped(['eng']),
      want: 'deny',
    },
    { name: 'not over incomplete groups does not allow', yaml: 'allow: {not: [{groups: contractors}]}', who: capped(['eng']), want: 'deny' },
    { name: 'nor over incomplete groups does not allow', yaml: 'allow: {nor: [{groups: a}, {groups: b}]}', who: capped(['eng']), want: 'deny' },
    { name: 'a rule not about groups still allows', yaml: 'allow: {and: [{email: bob@corp.com}]}', who: capped(), want: 'allow' },
    { name: 'or with a known true criterion allows', yaml: 'allow: {or: [{groups: admin}, {email: bob@corp.com}]}', who: capped(), want: 'allow' },
    {
      name: 'and with a known false criterion rules the deny out',
      yaml: '[{allow: {or: [{accept: true}]}}, {deny: {and: [{groups: x}, {http_method: POST}]}}]',
      who: capped(),
      want: 'allow',
    },
    { name: 'machine: authenticated_user holds', yaml: 'allow: {and: [{authenticated_user: true}]}', who: machine(), want: 'allow' },
    { name: 'machine: claim/cid works', yaml: 'allow: {and: [{claim/cid: {in: [0oa-bot]}}]}', who: machine(), want: 'allow' },
    { name: 'machine: claim/scp works', yaml: 'allow: {and: [{claim/scp: {has: reports.write}}]}', who: machine(), want: 'deny' },
    { name: 'machine: an email rule never matches', yaml: 'allow: {or: [{email: {ends_with: ""}}]}', who: machine(), want: 'deny' },
    { name: 'machine: a domain rule never matches', yaml: 'allow: {or: [{domain: {not_in: [corp.com]}}]}', who: machine(), want: 'deny' },
    { name: 'machine: a user rule never matches', yaml: 'allow: {or: [{user: {not_in: [x]}}]}', who: machine(), want: 'deny' },
    {
      name: 'machine: a deny on email denies',
      yaml: '[{allow: {or: [{authenticated_user: true}]}}, {deny: {or: [{email: {ends_with: "@contractor.com"}}]}}]',
      who: machine(),
      want: 'deny',
    },
    { name: 'machine: not email does not allow', yaml: 'allow: {not: [{email: mallory@corp.com}]}', who: machine(), want: 'deny' },
  ]
  for (const c of cases) {
    it(c.name, () => {
      expect(policy(c.yaml).evaluate(c.who, req(), 0).outcome).toBe(c.want)
    })
  }

  it('a deny on an unknown fact names the fact and why it is unknown', () => {
    const d = policy('[{allow: {or: [{accept: true}]}}, {deny: {or: [{groups: contractors}]}}]').evaluate(capped(['eng']), req(), 0)
    expect(d).toMatchObject({ outcome: 'deny', because: 'deny-unknown', rule: 1, criterion: 'groups' })
    expect(d.reason).toBe(`deny rule 1 cannot be ruled out: groups cannot be judged: ${INCOMPLETE}`)
  })

  it('an allow on an unknown fact says why it could not allow, even when another allow rule merely mismatched', () => {
    const one = policy('allow: {and: [{groups: eng}]}').evaluate(capped(), req(), 0)
    expect(one).toMatchObject({ outcome: 'deny', because: 'not-allowed', rule: 0, criterion: 'groups' })
    expect(one.reason).toBe(`groups cannot be judged: ${INCOMPLETE}`)
    const two = policy('[{allow: {and: [{http_method: POST}]}}, {allow: {and: [{domain: corp.com}]}}]').evaluate(machine(), req(), 0)
    expect(two).toMatchObject({ outcome: 'deny', rule: 1, criterion: 'domain' })
    expect(two.reason).toBe('no allow rule matched; rule 1: domain cannot be judged: a machine token has no email')
  })

  it('an anonymous request still gets login, not a deny', () => {
    expect(policy('[{allow: {or: [{accept: true}]}}, {deny: {or: [{groups: x}]}}]').evaluate(undefined, req(), 0).outcome).toBe('login')
  })

  it('explain marks the criterion unknown and gives the reason', () => {
    const { decision, trace } = policy('[{allow: {and: [{groups: eng}, {http_method: GET}]}}]').explain(capped(), req(), 0)
    expect(decision.outcome).toBe('deny')
    expect(trace[0]?.criteria).toEqual([
      { criterion: 'groups', result: 'unknown', reason: `groups cannot be judged: ${INCOMPLETE}` },
      { criterion: 'http_method', result: 'match', reason: expect.any(String) },
    ])
    expect(trace[0]?.matched).toBe(false)
  })

  it('an identity with no unknown facts is judged as before, and an allow is the same shared object', () => {
    const p = policy('allow: {or: [{groups: eng}]}')
    expect(p.evaluate(who(), req(), 0)).toBe(p.evaluate(who({ unknown: {} }), req(), 0))
  })
})

/**
 * The law: with unknown facts, an allow is granted only if it would be granted
 * whatever the unknown facts turn out to be, and a request escapes a deny rule
 * only if it would escape it whatever they turn out to be. Checked by filling
 * every unknown criterion in with each combination of true and false.
 */
describe('unknown user facts never open a door (property)', () => {
  type Atom = { kind: 'known'; value: boolean } | { kind: 'unknown'; text: string }
  const atom: fc.Arbitrary<Atom> = fc.oneof(
    fc.boolean().map((value) => ({ kind: 'known' as const, value })),
    fc.constantFrom('{groups: x}', '{groups: {exclude: x}}', '{email: a@b.c}', '{email: {not_in: [a@b.c]}}', '{domain: b.c}', '{user: u}').map((text) => ({
      kind: 'unknown' as const,
      text,
    })),
  )
  const known = (b: boolean): string => (b ? '{accept: true}' : '{reject: true}')
  const render = (atoms: readonly Atom[], fill: readonly boolean[]): string => {
    let i = 0
    return `[${atoms.map((a) => (a.kind === 'known' ? known(a.value) : fill.length === 0 ? a.text : known(fill[i++] as boolean))).join(', ')}]`
  }
  const completions = (atoms: readonly Atom[]): boolean[][] => {
    const k = atoms.filter((a) => a.kind === 'unknown').length
    return Array.from({ length: 2 ** k }, (_, n) => Array.from({ length: k }, (_, bit) => ((n >> bit) & 1) === 1))
  }
  const ops = fc.constantFrom('and', 'or', 'not', 'nor')
  const atoms = fc.array(atom, { minLength: 1, maxLength: 4 })
  const identities = fc.constantFrom<Identity>(
    who({ unknown: { groups: INCOMPLETE, email: 'email not verified', user: 'a machine token has no user' } }),
    machine(),
  )

  it('allow: granted only when granted for every value of the unknown facts', () => {
    fc.assert(
      fc.property(ops, atoms, identities, (op, as, id) => {
        const got = policy(`allow: {${op}: ${render(as, [])}}`).evaluate(id, req(), 0).outcome
        const always = completions(as).every((fill) => policy(`allow: {${op}: ${render(as, fill)}}`).evaluate(id, req(), 0).outcome === 'allow')
        expect(got).toBe(always ? 'allow' : 'deny')
      }),
    )
  })

  it('deny: escaped only when escaped for every value of the unknown facts, and the reason says why', () => {
    fc.assert(
      fc.property(ops, atoms, identities, (op, as, id) => {
        const yaml = (list: string) => `[{allow: {or: [{accept: true}]}}, {deny: {${op}: ${list}}}]`
        const got = policy(yaml(render(as, []))).evaluate(id, req(), 0)
        const never = completions(as).every((fill) => policy(yaml(render(as, fill))).evaluate(id, req(), 0).outcome === 'allow')
        expect(got.outcome).toBe(never ? 'allow' : 'deny')
        if (got.outcome === 'deny' && got.because === 'deny-unknown') expect(got.reason).toMatch(/cannot be judged: (the groups|email not|a machine)/)
      }),
    )
  })
})
