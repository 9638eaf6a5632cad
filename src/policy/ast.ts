/** The policy AST: what parse.ts builds from YAML and compile.ts turns into closures. */
import type { SourcePosition } from './types.js'

export type Operator = 'and' | 'or' | 'not' | 'nor'
export const OPERATORS: readonly Operator[] = ['and', 'or', 'not', 'nor']

export interface CriterionNode {
  /** As written: `groups`, `claim/department`. */
  readonly name: string
  /** The YAML value as plain data. */
  readonly value: unknown
  readonly at: SourcePosition
  readonly path: string
}

export interface Clause {
  readonly operator: Operator
  readonly criteria: readonly CriterionNode[]
  readonly at: SourcePosition
  readonly path: string
}

/** One `allow` or `deny` block. Several operators in one block must all hold. */
export interface RuleNode {
  readonly action: 'allow' | 'deny'
  readonly clauses: readonly Clause[]
  readonly at: SourcePosition
  readonly path: string
}

export interface PolicyAst {
  /** Index = the rule's number in the route's policy list (legacy keys first). */
  readonly rules: ReadonlyArray<readonly RuleNode[]>
}
