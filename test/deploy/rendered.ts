/**
 * Rendered manifests as objects, and `gatehouse check` run on the config a rendered Deployment would load,
 * with the environment its Secret references would give it.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse, parseAllDocuments } from 'yaml'
import { run as check } from '../../src/commands/check.js'
import type { KubeObject } from './k8s-schemas.js'

export function parseManifests(text: string): KubeObject[] {
  const out: KubeObject[] = []
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`rendered YAML does not parse: ${doc.errors[0]?.message ?? ''}`)
    const value = doc.toJS() as KubeObject | null
    if (value !== null) out.push(value)
  }
  return out
}

export function find(objects: readonly KubeObject[], kind: string, name?: string): KubeObject[] {
  return objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name))
}

export function one(objects: readonly KubeObject[], kind: string, name?: string): KubeObject {
  const found = find(objects, kind, name)
  if (found.length !== 1) throw new Error(`expected one ${kind}${name === undefined ? '' : `/${name}`}, found ${found.length}`)
  return found[0] as KubeObject
}

interface EnvVar {
  name: string
  value?: string
  valueFrom?: { secretKeyRef?: { name: string; key: string } }
}
interface Container {
  name: string
  args?: string[]
  env?: EnvVar[]
  volumeMounts?: { name: string; mountPath: string; subPath?: string }[]
}
interface PodSpec {
  containers: Container[]
  volumes?: { name: string; configMap?: { name: string }; secret?: { secretName: string } }[]
}

export function podSpec(deployment: KubeObject): PodSpec {
  return (deployment.spec as { template: { spec: PodSpec } }).template.spec
}

/** Plausible values for what gatehouse reads from the Secret (each must pass gatehouse's own validation). */
function secretValues(storeType: unknown): Record<string, string> {
  const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' })
  return {
    COOKIE_SECRET: randomBytes(32).toString('base64'),
    IDP_CLIENT_SECRET: 'client-secret-from-the-secret',
    SIGNING_KEY: Buffer.from(pem).toString('base64'),
    DATABROKER_STORAGE_CONNECTION_STRING:
      storeType === 'postgres' ? 'postgresql://gatehouse:password@sessions.db.svc:5432/gatehouse' : 'redis://:password@redis.sessions.svc:6379',
  }
}

export interface CheckResult {
  readonly code: number
  readonly out: string
  readonly err: string
  /** The config file as the pod sees it. */
  readonly config: string
}

/**
 * Lays out the ConfigMap the way the pod mounts it, takes the `-c` path from the container's args, the
 * environment from its env (Secret references get plausible values), and runs `gatehouse check`.
 */
export async function checkRenderedConfig(objects: readonly KubeObject[], deploymentName: string): Promise<CheckResult> {
  const deployment = one(objects, 'Deployment', deploymentName)
  const spec = podSpec(deployment)
  const container = spec.containers.find((c) => c.name === 'gatehouse')
  if (container === undefined) throw new Error('no gatehouse container')
  const args = container.args ?? []
  const configArg = args[args.indexOf('-c') + 1]
  if (args[0] !== 'serve' || configArg === undefined) throw new Error(`container args ${JSON.stringify(args)} do not serve a config file`)

  const root = mkdtempSync(join(tmpdir(), 'gatehouse-pod-'))
  try {
    let config: string | undefined
    const mounts: string[] = []
    for (const mount of container.volumeMounts ?? []) {
      const volume = spec.volumes?.find((v) => v.name === mount.name)
      const dir = join(root, mount.mountPath)
      if (volume?.configMap !== undefined) {
        if (mount.subPath !== undefined) throw new Error(`${mount.mountPath}: a subPath mount never sees ConfigMap updates`)
        const cm = one(objects, 'ConfigMap', volume.configMap.name)
        mkdirSync(dir, { recursive: true })
        for (const [key, text] of Object.entries((cm.data ?? {}) as Record<string, string>)) {
          writeFileSync(join(dir, key), text)
          if (join(mount.mountPath, key) === configArg) config = text
        }
        mounts.push(mount.mountPath)
      } else if (volume?.secret !== undefined) {
        // A kubernetes.io/tls Secret, as the kubelet lays it out; `check` only needs the files to be readable.
        mkdirSync(dir, { recursive: true })
        for (const key of ['tls.crt', 'tls.key']) writeFileSync(join(dir, key), `${key} of Secret ${volume.secret.secretName}\n`)
        mounts.push(mount.mountPath)
      }
    }
    if (config === undefined) throw new Error(`${configArg} is not a file of any mounted ConfigMap`)
    // The pod's paths, under the temporary root (a chroot would do the same).
    let podView = config
    for (const m of mounts) podView = podView.split(`${m}/`).join(`${join(root, m)}/`)
    writeFileSync(join(root, configArg), podView)

    const known = secretValues((parse(config) as { databroker_storage_type?: unknown } | null)?.databroker_storage_type)
    const env: Record<string, string> = {}
    for (const e of container.env ?? []) {
      if (e.value !== undefined) env[e.name] = e.value
      else if (e.valueFrom?.secretKeyRef !== undefined) {
        const value = known[e.name]
        if (value === undefined) throw new Error(`env ${e.name} comes from a Secret but gatehouse reads no such variable`)
        env[e.name] = value
      }
    }
    let out = ''
    let err = ''
    const code = await check(['-c', join(root, configArg)], { stdout: (t) => void (out += t), stderr: (t) => void (err += t), env, cwd: root })
    return { code, out, err, config }
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
}
