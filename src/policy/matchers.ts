/**
 * String and list matchers. A bare scalar is shorthand: `is` for strings,
 * `has` for lists. Several operators in one map must all hold. Everything is
 * prepared here, at compile time; `test` does comparisons only.
 */

export type Problem = (message: string, hint?: string) => void

export interface StringMatcher {
  test(value: string | undefined): boolean
  /** `is "alice@corp.com"`, for reasons. */
  readonly text: string
  /** `is not "alice@corp.com"`. */
  readonly negText: string
}

export interface ListMatcher {
  test(values: readonly string[]): boolean
  readonly text: string
}

export const STRING_OPERATORS = ['is', 'in', 'not_in', 'starts_with', 'ends_with', 'contains'] as const
const NEGATED: Record<string, string> = { is: 'is not', starts_with: 'does not start with', ends_with: 'does not end with', contains: 'does not contain' }

/** `in` (some value is one of a list) is gatehouse's: `claim/cid: {in: [0oa1, 0oa2]}` for a scalar claim. */
export const LIST_OPERATORS = ['has', 'is', 'exclude', 'in'] as const

function scalarText(v: unknown): string | undefined {
  if (typeof v === 'string') return v
  if (typeof v === 'number' || typeof v === 'boolean') return String(v)
  return undefined
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

export function compileStringMatcher(value: unknown, problem: Problem, normalise: (s: string) => string = (s) => s): StringMatcher | undefined {
  const bare = scalarText(value)
  const spec: Record<string, unknown> | undefined = bare !== undefined ? { is: bare } : isPlainObject(value) ? value : undefined
  if (spec === undefined || Object.keys(spec).length === 0) {
    problem('expected a string, or a map of string operators', `for example {starts_with: "/api/"}; operators: ${STRING_OPERATORS.join(', ')}`)
    return undefined
  }
  const tests: Array<(s: string) => boolean> = []
  const texts: string[] = []
  const negs: string[] = []
  for (const [op, raw] of Object.entries(spec)) {
    if (op === 'in' || op === 'not_in') {
      const list = Array.isArray(raw) ? raw.map(scalarText) : undefined
      if (list === undefined || list.some((x) => x === undefined)) {
        problem(`"${op}" needs a list of strings`)
        continue
      }
      const set = new Set((list as string[]).map(normalise))
      tests.push(op === 'in' ? (s) => set.has(s) : (s) => !set.has(s))
      const l = `[${[...set].join(', ')}]`
      texts.push(`${op === 'in' ? 'is in' : 'is not in'} ${l}`)
      negs.push(`${op === 'in' ? 'is not in' : 'is in'} ${l}`)
      continue
    }
    if (!(STRING_OPERATORS as readonly string[]).includes(op)) {
      problem(`unknown string operator "${op}"`, `valid operators: ${STRING_OPERATORS.join(', ')}`)
      continue
    }
    const s = scalarText(raw)
    if (s === undefined) {
      problem(`"${op}" needs a string value`)
      continue
    }
    const v = normalise(s)
    switch (op) {
      case 'is':
        tests.push((x) => x === v)
        break
      case 'starts_with':
        tests.push((x) => x.startsWith(v))
        break
      case 'ends_with':
        tests.push((x) => x.endsWith(v))
        break
      default:
        tests.push((x) => x.includes(v))
    }
    const q = JSON.stringify(v)
    texts.push(op === 'is' ? `is ${q}` : `${op.replace('_', 's ')} ${q}`)
    negs.push(`${NEGATED[op] ?? 'does not match'} ${q}`)
  }
  if (tests.length === 0) return undefined
  const only = tests.length === 1 ? tests[0] : undefined
  return {
    text: texts.join(' and '),
    negText: negs.join(' or '),
    test:
      only !== undefined
        ? (s) => s !== undefined && only(normalise(s))
        : (s) => {
            if (s === undefined) return false
            const n = normalise(s)
            for (const t of tests) if (!t(n)) return false
            return true
          },
  }
}

export function compileListMatcher(value: unknown, problem: Problem): ListMatcher | undefined {
  const bare = scalarText(value)
  const spec: Record<string, unknown> | undefined = bare !== undefined ? { has: bare } : isPlainObject(value) ? value : undefined
  if (spec === undefined || Object.keys(spec).length === 0) {
    problem('expected a group (or value) name, or a map of list operators', `for example {has: admin}; operators: ${LIST_OPERATORS.join(', ')}`)
    return undefined
  }
  const tests: Array<(l: readonly string[]) => boolean> = []
  const texts: string[] = []
  for (const [op, raw] of Object.entries(spec)) {
    if (!(LIST_OPERATORS as readonly string[]).includes(op)) {
      problem(`unknown list operator "${op}"`, `valid operators: ${LIST_OPERATORS.join(', ')}`)
      continue
    }
    if (op === 'in') {
      const items = Array.isArray(raw) ? raw.map(scalarText) : undefined
      if (items === undefined || items.length === 0 || items.some((x) => x === undefined)) {
        problem('"in" needs a non-empty list of strings')
        continue
      }
      const set = new Set(items as string[])
      tests.push((l) => l.some((x) => set.has(x)))
      texts.push(`in [${[...set].join(', ')}]`)
      continue
    }
    const v = scalarText(raw)
    if (v === undefined) {
      problem(`"${op}" needs a single string value`)
      continue
    }
    if (op === 'has') tests.push((l) => l.includes(v))
    else if (op === 'exclude') tests.push((l) => !l.includes(v))
    else tests.push((l) => l.length === 1 && l[0] === v)
    texts.push(`${op} ${JSON.stringify(v)}`)
  }
  if (tests.length === 0) return undefined
  return {
    text: texts.join(' and '),
    test: (l) => {
      for (const t of tests) if (!t(l)) return false
      return true
    },
  }
}
