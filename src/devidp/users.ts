/** The local IdP's users, from a small YAML file or given directly. */
import { readFileSync } from 'node:fs'
import { parse } from 'yaml'

export interface DevUser {
  username: string
  password: string
  sub: string
  email: string
  name: string
  groups: string[]
  /** false: the user is deactivated (refresh fails with invalid_grant, sign-in is refused). */
  active: boolean
  /** false: not assigned to the app, as Okta answers `access_denied`. */
  assigned: boolean
}

export type DevUserInput = Partial<DevUser> & { username: string; password: string; email: string }

export function normaliseUsers(input: readonly DevUserInput[]): DevUser[] {
  return input.map((u, i) => ({
    username: u.username,
    password: u.password,
    sub: u.sub ?? `00u${String(i).padStart(4, '0')}${u.username}`.slice(0, 20),
    email: u.email,
    name: u.name ?? u.username,
    groups: [...(u.groups ?? [])],
    active: u.active ?? true,
    assigned: u.assigned ?? true,
  }))
}

export function readUsersFile(path: string): DevUser[] {
  const doc = parse(readFileSync(path, 'utf8')) as { users?: DevUserInput[] } | null
  if (doc === null || !Array.isArray(doc.users)) throw new Error(`${path}: expected a "users" list`)
  return normaliseUsers(doc.users)
}
