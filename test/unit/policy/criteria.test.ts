import { describe, expect, it } from 'vitest'
import type { Identity, RequestFacts } from '../../../src/policy/index.js'
import { NOON_UTC_WEDNESDAY, policy, req, who } from './helpers.js'

interface Case {
  name: string
  policy: string
  who?: Identity | null
  req?: Partial<RequestFacts>
  now?: number
  want: 'allow' | 'deny' | 'login'
  reason?: RegExp
}

const alice = who({ sub: '00u-alice', email: 'alice@corp.com', groups: ['admin', 'eng'], claims: { department: 'ops', level: 3, roles: ['a', 'b'] } })
const bob = who()

const cases: Case[] = [
  { name: 'groups: member', policy: 'allow: {and: [{groups: admin}]}', who: alice, want: 'allow' },
  { name: 'groups: not a member', policy: 'allow: {and: [{groups: admin}]}', who: bob, want: 'deny', reason: /groups: \[eng\] has no "admin"/ },
  { name: 'groups: has', policy: 'allow: {and: [{groups: {has: eng}}]}', who: bob, want: 'allow' },
  { name: 'groups: is (only)', policy: 'allow: {and: [{groups: {is: eng}}]}', who: alice, want: 'deny' },
  { name: 'groups: exclude', policy: 'allow: {and: [{groups: {exclude: contractors}}]}', who: bob, want: 'allow' },
  { name: 'groups: anonymous', policy: 'allow: {and: [{groups: admin}]}', who: null, want: 'login' },
  { name: 'email: is', policy: 'allow: {or: [{email: alice@corp.com}]}', who: alice, want: 'allow' },
  { name: 'email: case-insensitive, whole address', policy: 'allow: {or: [{email: ALICE@corp.com}]}', who: alice, want: 'allow' },
  { name: 'email: not a substring', policy: 'allow: {or: [{email: alice@corp.co}]}', who: alice, want: 'deny', reason: /is not "alice@corp.co"/ },
  { name: 'email: in', policy: 'allow: {or: [{email: {in: [x@corp.com, bob@corp.com]}}]}', who: bob, want: 'allow' },
  { name: 'email: not_in', policy: 'allow: {or: [{email: {not_in: [bob@corp.com]}}]}', who: bob, want: 'deny' },
  { name: 'email: ends_with', policy: 'allow: {or: [{email: {ends_with: "@corp.com"}}]}', who: bob, want: 'allow' },
  { name: 'domain: is', policy: 'allow: {or: [{domain: corp.com}]}', who: bob, want: 'allow' },
  { name: 'domain: two @ never match', policy: 'allow: {or: [{domain: corp.com}]}', who: who({ email: 'attacker@evil.com@corp.com' }), want: 'deny' },
  { name: 'domain: suffix is not the domain', policy: 'allow: {or: [{domain: corp.com}]}', who: who({ email: 'x@evilcorp.com' }), want: 'deny' },
  { name: 'user: id', policy: 'allow: {or: [{user: 00u-alice}]}', who: alice, want: 'allow' },
  { name: 'claim: scalar', policy: 'allow: {or: [{claim/department: ops}]}', who: alice, want: 'allow' },
  { name: 'claim: number', policy: 'allow: {or: [{claim/level: 3}]}', who: alice, want: 'allow' },
  { name: 'claim: list', policy: 'allow: {or: [{claim/roles: {has: b}}]}', who: alice, want: 'allow' },
  { name: 'claim: in (scalar claim)', policy: 'allow: {or: [{claim/department: {in: [eng, ops]}}]}', who: alice, want: 'allow' },
  { name: 'claim: in (list claim)', policy: 'allow: {or: [{claim/roles: {in: [c, b]}}]}', who: alice, want: 'allow' },
  { name: 'claim: in, none', policy: 'allow: {or: [{claim/roles: {in: [c, d]}}]}', who: alice, want: 'deny', reason: /does not satisfy in \[c, d\]/ },
  { name: 'claim: missing', policy: 'allow: {or: [{claim/department: ops}]}', who: bob, want: 'deny', reason: /claim\/department: \[\]/ },
  { name: 'authenticated_user', policy: 'allow: {or: [{authenticated_user: true}]}', who: bob, want: 'allow' },
  { name: 'authenticated_user anonymous', policy: 'allow: {or: [{authenticated_user: true}]}', who: null, want: 'login' },
  { name: 'accept anonymous', policy: 'allow: {or: [{accept: true}]}', who: null, want: 'allow' },
  { name: 'reject', policy: 'allow: {or: [{reject: true}]}', who: alice, want: 'deny' },
  { name: 'http_method', policy: 'allow: {and: [{http_method: {in: [get, head]}}]}', who: null, want: 'allow' },
  { name: 'http_method no', policy: 'allow: {and: [{http_method: POST}]}', who: null, want: 'deny', reason: /http_method: "GET" is not "POST"/ },
  { name: 'http_path starts_with', policy: 'allow: {and: [{http_path: {starts_with: /api/}}]}', req: { path: '/api/x' }, want: 'allow' },
  { name: 'source_ip cidr', policy: 'allow: {and: [{source_ip: 10.0.0.0/8}]}', want: 'allow' },
  { name: 'source_ip list miss', policy: 'allow: {and: [{source_ip: [192.168.0.0/16, 172.16.0.1]}]}', want: 'deny', reason: /10\.1\.2\.3 is not in/ },
  { name: 'source_ip mapped v4', policy: 'allow: {and: [{source_ip: 10.0.0.0/8}]}', req: { sourceIp: '::ffff:10.9.9.9' }, want: 'allow' },
  { name: 'source_ip v6', policy: 'allow: {and: [{source_ip: "2001:db8::/32"}]}', req: { sourceIp: '2001:db8::1' }, want: 'allow' },
  { name: 'cors_preflight', policy: 'allow: {or: [{cors_preflight: true}]}', req: { isCorsPreflight: true, method: 'OPTIONS' }, who: null, want: 'allow' },
  { name: 'date after', policy: 'allow: {and: [{date: {after: "2026-01-01T00:00:00Z"}}]}', now: NOON_UTC_WEDNESDAY, want: 'allow' },
  { name: 'date before', policy: 'allow: {and: [{date: {before: "2026-01-01T00:00:00Z"}}]}', now: NOON_UTC_WEDNESDAY, want: 'deny' },
  { name: 'day_of_week range', policy: 'allow: {and: [{day_of_week: mon-fri}]}', now: NOON_UTC_WEDNESDAY, want: 'allow' },
  { name: 'day_of_week weekend', policy: 'allow: {and: [{day_of_week: [sat, sun]}]}', now: NOON_UTC_WEDNESDAY, want: 'deny', reason: /wed is not one of/ },
  {
    name: 'day_of_week in a timezone (Thursday already in Tokyo)',
    policy: 'allow: {and: [{day_of_week: {days: thu, timezone: Asia/Tokyo}}]}',
    now: Date.parse('2026-11-25T20:00:00Z'),
    want: 'allow',
  },
  { name: 'time_of_day window', policy: 'allow: {and: [{time_of_day: {after: "09:00", before: "17:00"}}]}', now: NOON_UTC_WEDNESDAY, want: 'allow' },
  {
    name: 'time_of_day in a timezone',
    policy: 'allow: {and: [{time_of_day: {timezone: America/New_York, after: "09:00", before: "17:00"}}]}',
    now: NOON_UTC_WEDNESDAY,
    want: 'deny',
    reason: /07:00 is not/,
  },
  {
    name: 'time_of_day across midnight',
    policy: 'allow: {and: [{time_of_day: {after: "22:00", before: "06:00"}}]}',
    now: Date.parse('2026-11-25T23:30:00Z'),
    want: 'allow',
  },
  {
    name: 'time_of_day across midnight, outside',
    policy: 'allow: {and: [{time_of_day: {after: "22:00", before: "06:00"}}]}',
    now: NOON_UTC_WEDNESDAY,
    want: 'deny',
  },
]

describe('criteria and matchers', () => {
  for (const c of cases) {
    it(c.name, () => {
      const d = policy(c.policy).evaluate(c.who === null ? undefined : (c.who ?? bob), req(c.req), c.now ?? NOON_UTC_WEDNESDAY)
      expect(d.outcome).toBe(c.want)
      if (c.reason !== undefined) expect(d.reason).toMatch(c.reason)
    })
  }
})
