/**
 * Reading values out of YAML nodes with positions. Every problem is collected
 * with file:line:col and the key path; nothing here throws for user input.
 */
import { isMap, isScalar, isSeq, type LineCounter, type Node, type Pair, type YAMLMap } from 'yaml'
import type { Problem } from './types.js'
import type { ConfigErrorCode } from './errors.js'

export class Reader {
  readonly problems: Problem[] = []
  readonly warnings: Problem[] = []
  /** Nodes that came from an environment variable: problems name the variable instead of a line. */
  readonly fromEnv = new WeakMap<Node, string>()
  /** Scalars whose ${VAR} was missing: already reported, so not validated again. */
  readonly unresolved = new WeakSet<Node>()

  constructor(
    readonly file: string,
    private readonly lines: LineCounter | undefined,
  ) {}

  pos(node: Node | null | undefined): { line: number; col: number } {
    const off = node?.range?.[0]
    if (off === undefined || this.lines === undefined) return { line: 1, col: 1 }
    return this.lines.linePos(off)
  }

  private where(node: Node | null | undefined): { file: string; line: number; col: number } {
    const env = node === null || node === undefined ? undefined : this.fromEnv.get(node)
    return env === undefined ? { file: this.file, ...this.pos(node) } : { file: `environment variable ${env}`, line: 1, col: 1 }
  }

  problem(node: Node | null | undefined, path: string, code: ConfigErrorCode, message: string, hint?: string): void {
    this.problems.push({ ...this.where(node), path, code, message, ...(hint === undefined ? {} : { hint }) })
  }

  warn(node: Node | null | undefined, path: string, code: ConfigErrorCode, message: string, hint?: string): void {
    this.warnings.push({ ...this.where(node), path, code, message, ...(hint === undefined ? {} : { hint }) })
  }

  /** Pairs of a map node, keyed by their string key. */
  entries(map: YAMLMap): Array<[string, Pair]> {
    const out: Array<[string, Pair]> = []
    for (const pair of map.items) {
      const k = isScalar(pair.key) ? String(pair.key.value) : undefined
      if (k === undefined) this.problem(pair.key as Node, '', 'CONFIG_BAD_TYPE', 'keys must be plain strings')
      else out.push([k, pair])
    }
    return out
  }

  string(node: Node | null | undefined, path: string): string | undefined {
    if (node !== null && node !== undefined && this.unresolved.has(node)) return undefined
    if (isScalar(node) && (typeof node.value === 'string' || typeof node.value === 'number')) return String(node.value)
    this.problem(node, path, 'CONFIG_BAD_TYPE', `expected a string${describe(node)}`)
    return undefined
  }

  bool(node: Node | null | undefined, path: string): boolean | undefined {
    if (isScalar(node) && typeof node.value === 'boolean') return node.value
    if (isScalar(node) && (node.value === 'true' || node.value === 'false')) return node.value === 'true'
    this.problem(node, path, 'CONFIG_BAD_TYPE', `expected true or false${describe(node)}`)
    return undefined
  }

  /** A YAML list of strings, or one comma-separated string (Pomerium accepts both). */
  stringList(node: Node | null | undefined, path: string): string[] | undefined {
    if (isSeq(node)) {
      const out: string[] = []
      node.items.forEach((item, i) => {
        const v = this.string(item as Node, `${path}[${i}]`)
        if (v !== undefined) out.push(v)
      })
      return out
    }
    if (isScalar(node) && typeof node.value === 'string')
      return node.value
        .split(',')
        .map((x) => x.trim())
        .filter((x) => x.length > 0)
    this.problem(node, path, 'CONFIG_BAD_TYPE', `expected a list of strings${describe(node)}`)
    return undefined
  }

  stringMap(node: Node | null | undefined, path: string): Record<string, string> | undefined {
    if (!isMap(node)) {
      this.problem(node, path, 'CONFIG_BAD_TYPE', `expected a map of strings${describe(node)}`)
      return undefined
    }
    const out: Record<string, string> = {}
    for (const [k, pair] of this.entries(node)) {
      const v = this.string(pair.value as Node, `${path}.${k}`)
      if (v !== undefined) out[k] = v
    }
    return out
  }
}

function describe(node: Node | null | undefined): string {
  if (node === null || node === undefined) return ', found nothing'
  if (isMap(node)) return ', found a map'
  if (isSeq(node)) return ', found a list'
  if (isScalar(node)) return `, found ${JSON.stringify(node.value)}`
  return ''
}
