/** Every criterion, in one explicit list (no registration by import side effects). */
import type { CriterionDef } from './types.js'
import { accept, corsPreflight, httpMethod, httpPath, reject, sourceIp } from './request.js'
import { authenticatedUser, claim, domain, email, groups, user } from './session.js'
import { date, dayOfWeek, timeOfDay } from './time.js'

export const CRITERIA: readonly CriterionDef[] = [
  accept,
  reject,
  authenticatedUser,
  email,
  domain,
  user,
  groups,
  claim,
  httpMethod,
  httpPath,
  sourceIp,
  corsPreflight,
  date,
  dayOfWeek,
  timeOfDay,
]

const byName = new Map(CRITERIA.filter((c) => !c.name.endsWith('/')).map((c) => [c.name, c]))

export function findCriterion(name: string): CriterionDef | undefined {
  return byName.get(name) ?? (name.startsWith('claim/') ? claim : undefined)
}

export const CRITERION_NAMES: readonly string[] = CRITERIA.map((c) => c.name)

export type { CriterionDef, CompiledCriterion } from './types.js'
