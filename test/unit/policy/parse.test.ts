import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { stringify } from 'yaml'
import { compilePolicy, parsePolicyText } from '../../../src/policy/index.js'
import { req, who } from './helpers.js'

const bad: Array<[string, string, string, RegExp?]> = [
  ['unknown criterion with a suggestion', 'allow: {and: [{group: admin}]}', 'POLICY_UNKNOWN_CRITERION', /did you mean "groups"/],
  ['unknown operator', 'allow: {andd: [{groups: admin}]}', 'POLICY_UNKNOWN_OPERATOR', /did you mean "and"/],
  ['criterion directly under allow', 'allow: {groups: admin}', 'POLICY_UNKNOWN_OPERATOR', /put the criterion in a list/],
  ['unknown action', 'alow: {and: [{groups: admin}]}', 'POLICY_UNKNOWN_ACTION', /did you mean "allow"/],
  ['nested operator', 'allow: {and: [{or: [{groups: a}]}]}', 'POLICY_BAD_SHAPE'],
  ['two keys in one criterion', 'allow: {and: [{groups: a, email: b}]}', 'POLICY_BAD_SHAPE'],
  ['unknown string operator', 'allow: {and: [{email: {is_not: x}}]}', 'POLICY_BAD_MATCHER', /valid operators/],
  ['unknown list operator', 'allow: {and: [{groups: {contains: x}}]}', 'POLICY_BAD_MATCHER'],
  ['list "in" without a list', 'allow: {and: [{claim/cid: {in: 0oa1}}]}', 'POLICY_BAD_VALUE', /non-empty list/],
  ['bad CIDR', 'allow: {and: [{source_ip: 10.0.0.0/99}]}', 'POLICY_BAD_VALUE'],
  ['bad timezone', 'allow: {and: [{time_of_day: {timezone: Mars/Base, after: "09:00"}}]}', 'POLICY_BAD_VALUE', /unknown timezone/],
  ['bad day', 'allow: {and: [{day_of_week: funday}]}', 'POLICY_BAD_VALUE'],
  ['operator not a list', 'allow: {and: {groups: admin}}', 'POLICY_BAD_SHAPE'],
  ['scalar policy', '"allow everyone"', 'POLICY_BAD_SHAPE'],
]

describe('policy parsing', () => {
  for (const [name, text, code, hint] of bad) {
    it(`refuses: ${name}`, () => {
      const r = parsePolicyText(text)
      expect('problems' in r).toBe(true)
      if (!('problems' in r)) return
      expect(r.problems[0]?.code).toBe(code)
      expect(r.problems[0]?.at.line).toBeGreaterThanOrEqual(1)
      if (hint !== undefined) expect(`${r.problems[0]?.message} ${r.problems[0]?.hint ?? ''}`).toMatch(hint)
    })
  }

  it('collects every problem, each with its position and key path', () => {
    const r = parsePolicyText('- allow:\n    and:\n      - group: a\n      - emial: b\n- deny:\n    or:\n      - source_ip: nope\n')
    if (!('problems' in r)) throw new Error('expected problems')
    expect(r.problems.map((p) => [p.path, p.at.line, p.at.col])).toEqual([
      ['policy[0].allow.and[0].group', 3, 9],
      ['policy[0].allow.and[1].emial', 4, 9],
      ['policy[1].deny.or[0].source_ip', 7, 20],
    ])
  })

  it('never throws on random YAML: a policy, or positioned problems', () => {
    const leaf = fc.oneof(fc.string({ maxLength: 8 }), fc.integer(), fc.boolean(), fc.constant(null), fc.constantFrom('admin', '10.0.0.0/8', 'mon-fri'))
    const key = fc.constantFrom(
      'allow',
      'deny',
      'and',
      'or',
      'not',
      'nor',
      'groups',
      'email',
      'source_ip',
      'claim/x',
      'time_of_day',
      'after',
      'is',
      'has',
      'bogus',
    )
    const tree = fc.letrec((tie) => ({
      node: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('node'), { maxLength: 3 }), fc.dictionary(key, tie('node'), { maxKeys: 3 })),
    })).node
    fc.assert(
      fc.property(tree, (t) => {
        const r = parsePolicyText(stringify(t))
        if ('problems' in r) {
          for (const p of r.problems) expect(p.at.line).toBeGreaterThanOrEqual(1)
          return
        }
        const p = compilePolicy(r.ast)
        p.evaluate(who(), req(), Date.now())
        p.evaluate(undefined, req(), Date.now())
      }),
      { numRuns: 1500 },
    )
  })

  it('random identities and requests never make evaluate throw', () => {
    const p = parsePolicyText(
      '[{allow: {or: [{groups: admin}, {email: {ends_with: "@corp.com"}}, {claim/x: y}, {source_ip: 10.0.0.0/8}, {domain: corp.com}]}}, {deny: {or: [{http_path: {starts_with: /x}}]}}]',
    )
    if ('problems' in p) throw new Error('parse failed')
    const c = compilePolicy(p.ast)
    fc.assert(
      fc.property(
        fc.string(),
        fc.option(fc.string()),
        fc.array(fc.string()),
        fc.dictionary(fc.string(), fc.jsonValue()),
        fc.string(),
        fc.string(),
        (sub, email, groups, claims, ip, path) => {
          c.evaluate({ sub, email: email ?? undefined, name: undefined, groups, claims }, req({ sourceIp: ip, path }), 0)
        },
      ),
    )
  })
})
