/**
 * Validates Kubernetes objects against the API schemas, without a cluster.
 *
 * Built-in kinds, Gateway API and the Prometheus Operator's ServiceMonitor use the kubernetes-models
 * packages (validators generated from the Kubernetes OpenAPI and the projects' CRDs). Envoy Gateway's
 * SecurityPolicy has no npm package: its CRD schema (Envoy Gateway v1.9.0, descriptions removed) is kept in
 * test/fixtures/deploy and checked with ajv, with unknown fields refused as `kubectl apply`'s strict field
 * validation refuses them. A kind with no schema here is an error, never a pass. `findUnknownFields` adds
 * what the generated validators leave out: fields the API does not know.
 */
import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { Ajv } from 'ajv'

export interface KubeObject {
  readonly apiVersion: string
  readonly kind: string
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly [k: string]: unknown }
  readonly [k: string]: unknown
}

interface Model {
  validate(): void
}
type ModelClass = new (data: unknown) => Model

/** apiVersion group → the module path prefix that holds its models. */
const MODEL_PACKAGES: Readonly<Record<string, string>> = {
  '': 'kubernetes-models',
  apps: 'kubernetes-models',
  policy: 'kubernetes-models',
  autoscaling: 'kubernetes-models',
  'networking.k8s.io': 'kubernetes-models',
  'rbac.authorization.k8s.io': 'kubernetes-models',
  'gateway.networking.k8s.io': '@kubernetes-models/gateway-api',
  'monitoring.coreos.com': '@kubernetes-models/prometheus-operator',
}

const CRD_SCHEMAS: Readonly<Record<string, string>> = {
  'gateway.envoyproxy.io/v1alpha1/SecurityPolicy': 'test/fixtures/deploy/envoy-gateway-securitypolicy-v1alpha1.schema.json',
}

type Schema = { [k: string]: unknown }

const isObject = (v: unknown): v is Schema => v !== null && typeof v === 'object' && !Array.isArray(v)

/**
 * The CRD's schema cut down to the parts `values` (the data found at this place) reach, so ajv compiles a
 * few nodes instead of the whole 100 kB schema. Properties the data does not use stay declared (as `{}`), and
 * an object schema that does not keep unknown fields refuses them, as `kubectl apply`'s strict field
 * validation does.
 */
function schemaFor(node: unknown, values: readonly unknown[]): unknown {
  if (!isObject(node)) return node
  const out: Schema = { ...node }
  for (const k of ['allOf', 'anyOf', 'oneOf'] as const) {
    const list = node[k]
    if (Array.isArray(list)) out[k] = list.map((s) => schemaFor(s, values))
  }
  const objects = values.filter(isObject)
  if (isObject(node.properties)) {
    const properties: Schema = {}
    for (const [key, sub] of Object.entries(node.properties)) {
      const inner = objects.filter((o) => key in o).map((o) => o[key])
      properties[key] = inner.length === 0 ? {} : schemaFor(sub, inner)
    }
    out.properties = properties
    if (node.additionalProperties === undefined && node['x-kubernetes-preserve-unknown-fields'] !== true) out.additionalProperties = false
  }
  if (isObject(node.additionalProperties)) {
    const inner = objects.flatMap((o) =>
      Object.entries(o)
        .filter(([k]) => !isObject(node.properties) || !(k in node.properties))
        .map(([, v]) => v),
    )
    out.additionalProperties = schemaFor(node.additionalProperties, inner)
  }
  if (node.items !== undefined) out.items = schemaFor(node.items, values.filter(Array.isArray).flat())
  return out
}

const ajv = new Ajv({ strict: false, allErrors: true })
// The formats Kubernetes CRDs use (the API server checks int32/int64 ranges; byte is base64).
ajv.addFormat('int32', { type: 'number', validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 })
ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isSafeInteger(n) })
ajv.addFormat('byte', (s: string) => /^[A-Za-z0-9+/]*={0,2}$/.test(s) && s.length % 4 === 0)
ajv.addFormat('date-time', (s: string) => !Number.isNaN(Date.parse(s)))
const crdSchemas = new Map<string, Schema>()

function crdSchema(key: string): Schema | undefined {
  const file = CRD_SCHEMAS[key]
  if (file === undefined) return undefined
  let schema = crdSchemas.get(key)
  if (schema === undefined) {
    const { $comment: _source, ...loaded } = JSON.parse(readFileSync(file, 'utf8')) as Schema
    // apiVersion/kind/metadata are checked by the API server itself; the CRD schema describes spec and status.
    schema = {
      ...loaded,
      properties: { ...(loaded.properties as Schema), apiVersion: { type: 'string' }, kind: { type: 'string' }, metadata: { type: 'object' } },
    }
    crdSchemas.set(key, schema)
  }
  return schema
}

async function modelClass(apiVersion: string, kind: string): Promise<ModelClass | undefined> {
  const slash = apiVersion.indexOf('/')
  const group = slash < 0 ? '' : apiVersion.slice(0, slash)
  const pkg = MODEL_PACKAGES[group]
  if (pkg === undefined) return undefined
  const mod = (await import(`${pkg}/${apiVersion}`).catch(() => undefined)) as Record<string, unknown> | undefined
  const cls = mod?.[kind]
  return typeof cls === 'function' ? (cls as ModelClass) : undefined
}

/** Problems with one object, as `Kind/name: path message`; empty when it is valid. */
export async function validateObject(obj: KubeObject): Promise<string[]> {
  const label = `${obj.kind}/${obj.metadata?.name ?? '?'}`
  if (typeof obj.apiVersion !== 'string' || typeof obj.kind !== 'string') return [`${label}: apiVersion and kind are required`]
  const schema = crdSchema(`${obj.apiVersion}/${obj.kind}`)
  if (schema !== undefined) {
    const crd = ajv.compile(schemaFor(schema, [obj]) as Schema)
    if (crd(obj)) return []
    return (crd.errors ?? []).map(
      (e) =>
        `${label}: ${e.instancePath || '/'} ${e.message ?? e.keyword}${e.keyword === 'additionalProperties' ? ` (${String(e.params.additionalProperty)})` : ''}`,
    )
  }
  const Cls = await modelClass(obj.apiVersion, obj.kind)
  if (Cls === undefined) return [`${label}: no schema for ${obj.apiVersion} ${obj.kind}`]
  try {
    new Cls(obj).validate()
    return []
  } catch (err) {
    const errors = (err as { errors?: { instancePath?: string; message?: string }[] }).errors
    if (errors === undefined) return [`${label}: ${(err as Error).message}`]
    return errors.map((e) => `${label}: ${e.instancePath || '/'} ${e.message ?? ''}`)
  }
}

/**
 * Just enough of the standard library for the models' declarations: the check needs their property names
 * and types, not the DOM or ES lib files (which take most of a full program's time).
 */
const MINI_LIB = `interface Array<T> { length: number; [n: number]: T }
interface Boolean {}
interface CallableFunction {}
interface Function {}
interface IArguments {}
interface NewableFunction {}
interface Number {}
interface Object {}
interface RegExp {}
interface String {}
type Exclude<T, U> = T extends U ? never : T
type Pick<T, K extends keyof T> = { [P in K]: T[P] }
type Omit<T, K extends keyof any> = Pick<T, Exclude<keyof T, K>>
type Partial<T> = { [P in keyof T]?: T[P] }
type Record<K extends keyof any, T> = { [P in K]: T }
`

/**
 * Fields the API does not know, as `kubectl apply` refuses them (strict field validation, the default since
 * Kubernetes 1.27): the generated validators above check types and formats but let unknown fields through, so
 * each object is also type-checked as an object literal against the same package's declared interface, where
 * TypeScript's excess-property check names every misspelt or misplaced field. One program for all objects.
 */
export async function findUnknownFields(objects: readonly KubeObject[]): Promise<string[]> {
  const ts = (await import('typescript')).default
  const dir = resolve('test/deploy')
  const file = join(dir, '__objects__.ts')
  const libFile = join(dir, '__lib__.d.ts')
  const lines: string[] = []
  const owners: string[] = []
  objects.forEach((obj, i) => {
    const slash = obj.apiVersion.indexOf('/')
    const pkg = MODEL_PACKAGES[slash < 0 ? '' : obj.apiVersion.slice(0, slash)]
    if (pkg === undefined) return // CRDs with their own schema (checked with unknown fields refused) or no schema (refused)
    lines.push(`import type { I${obj.kind} as T${i} } from '${pkg}/${obj.apiVersion}/${obj.kind}'`)
    owners.push(`${obj.kind}/${obj.metadata.name}`)
  })
  objects.forEach((obj, i) => {
    const slash = obj.apiVersion.indexOf('/')
    if (MODEL_PACKAGES[slash < 0 ? '' : obj.apiVersion.slice(0, slash)] === undefined) return
    for (const line of `export const o${i}: T${i} = ${JSON.stringify(obj, null, 1)}`.split('\n')) {
      lines.push(line)
      owners.push(`${obj.kind}/${obj.metadata.name}`)
    }
  })
  const text = lines.join('\n')
  const options = {
    strict: true,
    noEmit: true,
    noLib: true,
    skipLibCheck: true,
    types: [],
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
  }
  const host = ts.createCompilerHost(options)
  const getSourceFile = host.getSourceFile.bind(host)
  const fileExists = host.fileExists.bind(host)
  host.getSourceFile = (name, language, ...rest) =>
    name === file
      ? ts.createSourceFile(name, text, language)
      : name === libFile
        ? ts.createSourceFile(name, MINI_LIB, language)
        : getSourceFile(name, language, ...rest)
  host.fileExists = (name) => name === file || name === libFile || fileExists(name)
  const program = ts.createProgram([libFile, file], options, host)
  return ts
    .getPreEmitDiagnostics(program)
    .filter((d) => d.file?.fileName === file)
    .map((d) => {
      const line = d.file?.getLineAndCharacterOfPosition(d.start ?? 0).line ?? 0
      return `${owners[line] ?? '?'}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`
    })
}
