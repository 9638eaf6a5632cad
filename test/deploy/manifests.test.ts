/**
 * deploy/kubernetes: plain manifests for `kubectl apply`. gatehouse.yaml and forward-auth.yaml are the chart
 * rendered with the values file beside them (so the two ways to deploy cannot drift apart; regenerate with
 * UPDATE_DEPLOY_MANIFESTS=1); the app-*.yaml examples are written by hand. Every object validates against
 * the Kubernetes API schemas, and each gatehouse config passes `gatehouse check`.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { extractHelm, requireHelm, type Helm } from './helm.js'
import { findUnknownFields, validateObject } from './k8s-schemas.js'
import { checkRenderedConfig, one, parseManifests } from './rendered.js'

const DIR = 'deploy/kubernetes'
const CHART = 'deploy/helm/gatehouse'
const GENERATED = readdirSync(DIR)
  .filter((f) => f.endsWith('.values.yaml'))
  .map((f) => f.replace(/\.values\.yaml$/, ''))
  .sort()
const MANIFESTS = readdirSync(DIR)
  .filter((f) => f.endsWith('.yaml') && !f.endsWith('.values.yaml'))
  .sort()

function header(name: string): string {
  return [
    `# Generated from the Helm chart with ${name}.values.yaml (edit that file, not this one):`,
    `#   helm template gatehouse ${CHART} --namespace gatehouse -f ${DIR}/${name}.values.yaml`,
    "# with helm's own labels left out. Regenerate: UPDATE_DEPLOY_MANIFESTS=1 npx vitest run test/deploy/manifests.test.ts",
    '#',
    '# kubectl create namespace gatehouse',
    '# kubectl -n gatehouse create secret generic gatehouse --from-literal=cookie_secret="$(openssl rand -base64 32)" \\',
    '#   --from-literal=idp_client_secret=…',
    `# kubectl apply -f ${DIR}/${name}.yaml`,
    '',
  ].join('\n')
}

/** helm's bookkeeping (chart label, managed-by, source comments) means nothing to kubectl apply. */
function plain(rendered: string): string {
  return rendered
    .split('\n')
    .filter((line) => !/^\s*(helm\.sh\/chart|app\.kubernetes\.io\/managed-by):/.test(line) && !line.startsWith('# Source: '))
    .join('\n')
}

const hasHelm = requireHelm()

describe('deploy/kubernetes', () => {
  it('has the two shapes generated from the chart and the two app examples', () => {
    expect(GENERATED).toEqual(['forward-auth', 'gatehouse'])
    expect(MANIFESTS).toEqual(['app-envoy-gateway.yaml', 'app-ingress-nginx.yaml', 'forward-auth.yaml', 'gatehouse.yaml'])
  })

  describe.skipIf(!hasHelm).each(GENERATED)('%s.yaml', (name) => {
    let helm: Helm
    beforeAll(() => {
      helm = extractHelm()
    })
    afterAll(() => helm?.cleanup())

    it('is the chart rendered with its values file', async () => {
      const rendered = header(name) + plain(await helm.run(['template', 'gatehouse', CHART, '--namespace', 'gatehouse', '-f', `${DIR}/${name}.values.yaml`]))
      if (process.env.UPDATE_DEPLOY_MANIFESTS === '1') writeFileSync(`${DIR}/${name}.yaml`, rendered)
      expect(readFileSync(`${DIR}/${name}.yaml`, 'utf8')).toBe(rendered)
    })
  })

  describe.each(MANIFESTS)('%s', (file) => {
    const objects = parseManifests(readFileSync(`${DIR}/${file}`, 'utf8'))

    it('validates against the Kubernetes API schemas', async () => {
      expect(objects.length).toBeGreaterThan(0)
      expect((await Promise.all(objects.map(validateObject))).flat()).toEqual([])
    })
  })

  it('no object has a field the API does not know (kubectl apply refuses unknown fields)', async () => {
    const all = MANIFESTS.flatMap((file) => parseManifests(readFileSync(`${DIR}/${file}`, 'utf8')))
    expect(await findUnknownFields(all)).toEqual([])
  })

  it.each(GENERATED)('%s.yaml holds a config that gatehouse check accepts', async (name) => {
    const r = await checkRenderedConfig(parseManifests(readFileSync(`${DIR}/${name}.yaml`, 'utf8')), 'gatehouse')
    expect(r.code, r.err).toBe(0)
    expect(r.out).toMatch(/^ok: /)
  })

  it('the app examples point at the gatehouse Service the manifests create', () => {
    const service = one(parseManifests(readFileSync(`${DIR}/forward-auth.yaml`, 'utf8')), 'Service', 'gatehouse')
    expect(service.metadata.namespace).toBe('gatehouse')
    const nginx = one(parseManifests(readFileSync(`${DIR}/app-ingress-nginx.yaml`, 'utf8')), 'Ingress', 'grafana')
    expect(nginx.metadata.annotations).toMatchObject({
      'nginx.ingress.kubernetes.io/auth-url': 'http://gatehouse.gatehouse.svc.cluster.local/.gatehouse/verify',
      'nginx.ingress.kubernetes.io/auth-signin': 'https://$host/.gatehouse/sign_in',
    })
    const envoy = parseManifests(readFileSync(`${DIR}/app-envoy-gateway.yaml`, 'utf8'))
    expect(one(envoy, 'SecurityPolicy').spec).toMatchObject({
      extAuth: { http: { backendRefs: [{ name: 'gatehouse', namespace: 'gatehouse', port: 80 }], path: '/.gatehouse/forward_auth' } },
    })
  })
})
