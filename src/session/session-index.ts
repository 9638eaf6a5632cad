/**
 * The session indexes every store keeps (memory included): by the user's
 * email, by the IdP's subject (`sub`) and by the IdP's session (`sid`), so an
 * IdP-started logout, which names a subject or an IdP session and carries no
 * cookie, can find the gatehouse sessions to end. Each is a set of session ids
 * that lives as long as its longest member; a member whose session already
 * ended is harmless (ending it again is a no-op) and goes with the set.
 *
 *   u:<email>   sessions of an email address (lower-cased)
 *   b:<sub>     sessions of an IdP subject
 *   x:<sid>     sessions of an IdP session
 */
import type { KeyValueStore } from './store.js'

/** What a session is filed under. */
export interface IndexedAs {
  readonly sub: string
  readonly email?: string | undefined
  readonly idpSid?: string | undefined
}

/** Which sessions: exactly one of these is set. */
export type SessionFilter = { readonly user: string } | { readonly sub: string } | { readonly idpSid: string }

/** Ids and subjects from outside are bounded before they become keys. */
const MAX_KEY_PART = 512

export function indexKeys(s: IndexedAs): string[] {
  const keys = ['b:' + s.sub.slice(0, MAX_KEY_PART)]
  if (s.email !== undefined && s.email !== '') keys.push('u:' + s.email.toLowerCase().slice(0, MAX_KEY_PART))
  if (s.idpSid !== undefined && s.idpSid !== '') keys.push('x:' + s.idpSid.slice(0, MAX_KEY_PART))
  return keys
}

export function filterKey(f: SessionFilter): string {
  if ('user' in f) return 'u:' + f.user.toLowerCase().slice(0, MAX_KEY_PART)
  if ('sub' in f) return 'b:' + f.sub.slice(0, MAX_KEY_PART)
  return 'x:' + f.idpSid.slice(0, MAX_KEY_PART)
}

export async function fileSession(store: KeyValueStore, id: string, s: IndexedAs, ttlMs: number): Promise<void> {
  await Promise.all(indexKeys(s).map((k) => store.addToSet(k, id, ttlMs)))
}

export async function unfileSession(store: KeyValueStore, id: string, s: IndexedAs): Promise<void> {
  await Promise.all(indexKeys(s).map((k) => store.removeFromSet(k, id)))
}
