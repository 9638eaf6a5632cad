/**
 * Regular expressions that run in time linear in the input: RE2's semantics
 * through re2js (a pure-JavaScript port of RE2, no native build, no binary
 * download at install). Route regexes run on paths an anonymous client
 * chooses (up to 8 KB), so a backtracking engine would let one request cost
 * seconds of CPU (`(a+)+b` doubles per character). RE2 has no backreferences
 * or lookarounds: a pattern that uses them is refused at load with its
 * position, never silently run by another engine.
 */
import { RE2JS } from 're2js'

export interface LinearRegex {
  /** The pattern as written. */
  readonly source: string
  /** True when the whole input matches. */
  test(input: string): boolean
}

export type LinearRegexResult = { readonly ok: true; readonly regex: LinearRegex } | { readonly ok: false; readonly message: string }

export interface LinearRegexOptions {
  readonly caseInsensitive?: boolean
}

/** Compile `pattern` (whole-input match) or say, in the operator's words, why it cannot run in linear time. */
export function compileLinearRegex(source: string, pattern: string, opts: LinearRegexOptions = {}): LinearRegexResult {
  try {
    const re = RE2JS.compile(pattern, opts.caseInsensitive === true ? RE2JS.CASE_INSENSITIVE : 0)
    return { ok: true, regex: { source, test: (input) => re.testExact(input) } }
  } catch (err) {
    const detail = err instanceof Error ? err.message.replace(/^error parsing regexp: /, '') : String(err)
    return { ok: false, message: detail }
  }
}

/** The hint for a refused pattern: RE2 syntax, and what to use instead of the constructs it lacks. */
export const LINEAR_REGEX_HINT =
  'gatehouse runs regexes with RE2 semantics (linear time): backreferences (\\1) and lookarounds ((?=…), (?!…), (?<=…)) are not available; write the alternatives out, or use prefix/path'
