/**
 * Configuration: one YAML file in Pomerium's shape → a frozen, compiled
 * CompiledConfig (routes indexed by host, policies compiled, secrets decoded).
 * Every problem comes back with file:line:col and its key path; nothing here
 * throws for a user's mistake.
 *
 *   const result = loadConfig({ file: 'config/gatehouse.yaml', env: process.env })
 *   if ('problems' in result) for (const p of result.problems) console.error(formatProblem(p))
 *   else serve(result.config)
 */
import type { Problem } from './types.js'

export { loadConfig, compileConfigText, DEFAULT_SCOPES, type LoadOptions, type LoadResult } from './load.js'
export { GLOBAL_KEYS, ROUTE_KEYS, type KeySpec } from './keys.js'
export { buildRouteTable } from './route-table.js'
export { parseDuration, formatDuration } from './durations.js'
export { ConfigError, CONFIG_ERROR_CODES, type ConfigErrorCode } from './errors.js'
export { renderConfigReference } from './reference.js'
export type * from './types.js'

export const DEFAULT_CONFIG_FILE = 'config/gatehouse.yaml'

/** `file:line:col path: message` and, indented, the hint. */
export function formatProblem(p: Problem): string {
  const where = p.file.startsWith('environment variable') ? p.file : `${p.file}:${p.line}:${p.col}`
  return `${where}${p.path === '' ? '' : ` ${p.path}`}: ${p.message}${p.hint === undefined ? '' : `\n    ${p.hint}`}`
}
