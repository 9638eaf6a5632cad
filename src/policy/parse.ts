/**
 * YAML nodes → policy AST, with every problem collected (not first-wins) and
 * positioned. A policy is a list of rules (a single rule map is accepted too);
 * a rule has `allow` and/or `deny`; each holds operators (`and`, `or`, `not`,
 * `nor`) over a list of one-key criterion maps. Criterion values are checked
 * here by compiling them once, so compilePolicy never meets a bad value.
 */
import { isMap, isScalar, isSeq, type Node, type Pair } from 'yaml'
import type { Clause, CriterionNode, Operator, PolicyAst, RuleNode } from './ast.js'
import { OPERATORS } from './ast.js'
import { CRITERION_NAMES, findCriterion } from './criteria/index.js'
import type { PolicyErrorCode } from './errors.js'
import { didYouMean } from './suggest.js'
import type { SourcePosition } from './types.js'

export interface ParseContext {
  /** The position of a yaml node (the config loader owns the LineCounter). */
  positionOf(node: Node | undefined): SourcePosition
  /** Report a problem; parsing goes on and collects every problem. */
  report(p: { node: Node | undefined; path: string; code: PolicyErrorCode; message: string; hint?: string }): void
}

const ACTIONS = ['allow', 'deny'] as const

function keyOf(pair: Pair): string | undefined {
  return isScalar(pair.key) ? String(pair.key.value) : undefined
}

function toData(node: Node | null | undefined): unknown {
  return node === null || node === undefined ? null : node.toJSON()
}

function parseCriterion(item: unknown, path: string, ctx: ParseContext): CriterionNode | undefined {
  const node = item as Node
  if (!isMap(node) || node.items.length !== 1) {
    ctx.report({
      node,
      path,
      code: 'POLICY_BAD_SHAPE',
      message: 'a criterion is a map with exactly one key, such as {groups: admin}',
      hint: 'operators cannot be nested inside a criterion list',
    })
    return undefined
  }
  const pair = node.items[0] as Pair
  const name = keyOf(pair)
  const valueNode = (pair.value ?? undefined) as Node | undefined
  if (name === undefined) {
    ctx.report({ node, path, code: 'POLICY_BAD_SHAPE', message: 'a criterion name must be a string' })
    return undefined
  }
  const at = ctx.positionOf((pair.key as Node | null) ?? node)
  const cpath = `${path}.${name}`
  if ((OPERATORS as readonly string[]).includes(name)) {
    ctx.report({
      node: pair.key as Node,
      path: cpath,
      code: 'POLICY_BAD_SHAPE',
      message: `operators cannot be nested ("${name}" inside a criterion list)`,
      hint: 'write a second rule instead; rules are OR-ed',
    })
    return undefined
  }
  const def = findCriterion(name)
  if (def === undefined) {
    const hint = didYouMean(
      name,
      CRITERION_NAMES.map((n) => (n.endsWith('/') ? n + 'name' : n)),
    )
    ctx.report({
      node: pair.key as Node,
      path: cpath,
      code: 'POLICY_UNKNOWN_CRITERION',
      message: `unknown criterion "${name}"`,
      ...(hint === undefined ? {} : { hint }),
    })
    return undefined
  }
  const value = toData(valueNode)
  let ok = true
  def.compile(value, name, (message, hint) => {
    ok = false
    ctx.report({
      node: valueNode ?? (pair.key as Node),
      path: cpath,
      code: message.includes('operator') ? 'POLICY_BAD_MATCHER' : 'POLICY_BAD_VALUE',
      message: `${name}: ${message}`,
      ...(hint === undefined ? {} : { hint }),
    })
  })
  return ok ? { name, value, at, path: cpath } : undefined
}

function parseAction(action: 'allow' | 'deny', node: Node | null | undefined, path: string, ctx: ParseContext): RuleNode | undefined {
  if (!isMap(node)) {
    ctx.report({
      node: node ?? undefined,
      path,
      code: 'POLICY_BAD_SHAPE',
      message: `"${action}" must be a map of operators, such as ${action}: {and: [{groups: admin}]}`,
    })
    return undefined
  }
  const clauses: Clause[] = []
  for (const pair of node.items) {
    const op = keyOf(pair)
    const opPath = `${path}.${op ?? '?'}`
    if (op === undefined || !(OPERATORS as readonly string[]).includes(op)) {
      const hint =
        op === undefined
          ? undefined
          : findCriterion(op) !== undefined
            ? `put the criterion in a list under an operator: ${action}: {and: [{${op}: …}]}`
            : didYouMean(op, OPERATORS)
      ctx.report({
        node: pair.key as Node,
        path: opPath,
        code: 'POLICY_UNKNOWN_OPERATOR',
        message: `unknown operator "${op ?? '?'}" (expected and, or, not or nor)`,
        ...(hint === undefined ? {} : { hint }),
      })
      continue
    }
    const list = pair.value as Node | null
    if (!isSeq(list)) {
      ctx.report({ node: list ?? (pair.key as Node), path: opPath, code: 'POLICY_BAD_SHAPE', message: `"${op}" takes a list of criteria` })
      continue
    }
    const criteria: CriterionNode[] = []
    list.items.forEach((item, i) => {
      const c = parseCriterion(item, `${opPath}[${i}]`, ctx)
      if (c !== undefined) criteria.push(c)
    })
    if (criteria.length === list.items.length) clauses.push({ operator: op as Operator, criteria, at: ctx.positionOf(pair.key as Node), path: opPath })
  }
  if (clauses.length === 0) return undefined
  return { action, clauses, at: ctx.positionOf(node), path }
}

function parseRule(node: Node, path: string, ctx: ParseContext): RuleNode[] | undefined {
  if (!isMap(node)) {
    ctx.report({ node, path, code: 'POLICY_BAD_SHAPE', message: 'a policy rule is a map with "allow" and/or "deny"' })
    return undefined
  }
  const out: RuleNode[] = []
  let bad = false
  for (const pair of node.items) {
    const key = keyOf(pair)
    if (key !== 'allow' && key !== 'deny') {
      const hint = key === undefined ? undefined : didYouMean(key, ACTIONS)
      ctx.report({
        node: pair.key as Node,
        path: `${path}.${key ?? '?'}`,
        code: 'POLICY_UNKNOWN_ACTION',
        message: `unknown rule key "${key ?? '?'}" (expected allow or deny)`,
        ...(hint === undefined ? {} : { hint }),
      })
      bad = true
      continue
    }
    const r = parseAction(key, pair.value as Node | null, `${path}.${key}`, ctx)
    if (r === undefined) bad = true
    else out.push(r)
  }
  return bad ? undefined : out
}

export function parsePolicy(node: Node, path: string, ctx: ParseContext): PolicyAst | undefined {
  const items: Node[] = isSeq(node) ? (node.items as Node[]) : isMap(node) ? [node] : []
  if (!isSeq(node) && !isMap(node)) {
    ctx.report({ node, path, code: 'POLICY_BAD_SHAPE', message: 'policy must be a list of rules, such as [{allow: {and: [{groups: admin}]}}]' })
    return undefined
  }
  const rules: RuleNode[][] = []
  let bad = false
  items.forEach((item, i) => {
    const r = parseRule(item, isSeq(node) ? `${path}[${i}]` : path, ctx)
    if (r === undefined) bad = true
    else rules.push(r)
  })
  return bad ? undefined : { rules }
}
