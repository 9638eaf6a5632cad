/** Criteria that read the signed-in user: authenticated_user, email, domain, user, groups, claim/<name>. */
import type { Identity, UserFact } from '../types.js'
import { compileListMatcher, compileStringMatcher } from '../matchers.js'
import type { CriterionDef } from './types.js'

const lower = (s: string): string => s.toLowerCase()
const who$ = (who: Identity | undefined): Identity => who as Identity

/** The part after the single `@`; an address with no `@` or several has no domain. */
export function emailDomain(email: string | undefined): string | undefined {
  if (email === undefined) return undefined
  const at = email.indexOf('@')
  if (at <= 0 || at !== email.lastIndexOf('@') || at === email.length - 1) return undefined
  return email.slice(at + 1)
}

const list = (l: readonly string[]): string => `[${l.join(', ')}]`

export const authenticatedUser: CriterionDef = {
  name: 'authenticated_user',
  needsSession: true,
  compile(value, name, problem) {
    if (value !== true) {
      problem('authenticated_user takes the value true')
      return undefined
    }
    return {
      name,
      needsSession: true,
      // A machine token is authenticated too: this criterion reads no user fact.
      fact: undefined,
      test: (who) => who !== undefined,
      describe: (who) => (who === undefined ? 'not signed in' : `signed in as ${who.email ?? who.sub}`),
      own: (who) => (who === undefined ? 'not signed in' : 'signed in'),
    }
  },
}

/** A string matcher over one field of the user (`email`, the email's domain, `sub`). */
function userStringCriterion(
  name: string,
  fact: UserFact,
  pick: (who: Identity | undefined) => string | undefined,
  normalise?: (s: string) => string,
): CriterionDef {
  return {
    name,
    needsSession: true,
    compile(value, as, problem) {
      const m = compileStringMatcher(value, problem, normalise)
      if (m === undefined) return undefined
      return {
        name: as,
        needsSession: true,
        fact,
        test: (who) => m.test(pick(who)),
        describe: (who, _r, _n, ok) => `${as}: ${JSON.stringify(pick(who) ?? null)} ${ok ? m.text : m.negText}`,
        own: (who) => JSON.stringify(pick(who) ?? null),
      }
    },
  }
}

// Addresses compare whole and case-insensitively: never as substrings.
export const email = userStringCriterion('email', 'email', (who) => who?.email, lower)
// The domain is part of the address: an unknown email makes it unknown too.
export const domain = userStringCriterion('domain', 'email', (who) => emailDomain(who?.email), lower)
export const user = userStringCriterion('user', 'user', (who) => who?.sub)

export const groups: CriterionDef = {
  name: 'groups',
  needsSession: true,
  compile(value, name, problem) {
    const m = compileListMatcher(value, problem)
    if (m === undefined) return undefined
    return {
      name,
      needsSession: true,
      fact: 'groups',
      test: (who) => m.test(who$(who).groups),
      describe: (who, _r, _n, ok) => {
        const g = list(who?.groups ?? [])
        if (ok) return `groups: ${g} ${m.text}`
        // `groups: [eng] has no "admin"` reads better than "does not has".
        return `groups: ${g} ${m.text.startsWith('has ') ? m.text.replace(/^has /, 'has no ') : `does not satisfy ${m.text}`}`
      },
      own: (who) => list(who?.groups ?? []),
    }
  },
}

function claimValues(v: unknown): readonly string[] {
  if (v === undefined || v === null) return []
  if (Array.isArray(v)) return v.map((x) => (typeof x === 'string' ? x : JSON.stringify(x)))
  return [typeof v === 'string' ? v : JSON.stringify(v)]
}

export const claim: CriterionDef = {
  name: 'claim/',
  needsSession: true,
  compile(value, name, problem) {
    const claimName = name.slice('claim/'.length)
    if (claimName.length === 0) {
      problem('claim/ needs a claim name, as in claim/department')
      return undefined
    }
    const m = compileListMatcher(value, problem)
    if (m === undefined) return undefined
    return {
      name,
      needsSession: true,
      // What the token says: known whenever there is a token. `roles` is the
      // exception: with idp_roles it comes from the groups, and is unknown when they are.
      fact: claimName === 'roles' ? 'roles' : undefined,
      test: (who) => m.test(claimValues(who$(who).claims[claimName])),
      describe: (who, _r, _n, ok) => `${name}: ${list(claimValues(who?.claims[claimName]))} ${ok ? '' : 'does not satisfy '}${m.text}`,
      own: (who) => list(claimValues(who?.claims[claimName])),
    }
  },
}
