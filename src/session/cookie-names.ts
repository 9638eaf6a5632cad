/**
 * gatehouse's cookie names, in one place. `__Host-` when the browser allows
 * it (https, no Domain), as a defence against cookie tossing from sibling
 * hosts; the login-state cookies add a suffix and the state's hash.
 */
import type { CompiledConfig } from '../config/types.js'
import { LOGIN_COOKIE_SUFFIX } from '../constants.js'

export function cookiePrefix(config: CompiledConfig, scheme: 'http' | 'https'): string {
  return scheme === 'https' && config.cookie.domain === undefined ? `__Host-${config.cookie.name}` : config.cookie.name
}

/** The session cookie on a route host of this scheme. */
export function sessionCookieName(config: CompiledConfig, scheme: 'http' | 'https'): string {
  return cookiePrefix(config, scheme)
}

/** Prefix of the short-lived login-state cookies (one per sign-in attempt). */
export function loginCookiePrefix(config: CompiledConfig, scheme: 'http' | 'https'): string {
  return cookiePrefix(config, scheme) + LOGIN_COOKIE_SUFFIX
}
