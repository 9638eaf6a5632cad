/**
 * The Helm chart, rendered by the real helm for every values file in its ci/ folder: `helm lint --strict`
 * passes, every object validates against the Kubernetes API schemas, and the config the pods would load
 * passes `gatehouse check` with the environment the Deployment gives them.
 */
import { readdirSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { extractHelm, requireHelm, type Helm } from './helm.js'
import { findUnknownFields, validateObject, type KubeObject } from './k8s-schemas.js'
import { checkRenderedConfig, find, one, parseManifests, podSpec } from './rendered.js'

const CHART = 'deploy/helm/gatehouse'
const VALUES = readdirSync(`${CHART}/ci`)
  .filter((f) => f.endsWith('-values.yaml'))
  .sort()
const NAME = 'gh-gatehouse'

const hasHelm = requireHelm()

describe.skipIf(!hasHelm)('Helm chart deploy/helm/gatehouse', () => {
  let helm: Helm
  const rendered = new Map<string, KubeObject[]>()

  const render = async (...args: string[]) => parseManifests(await helm.run(['template', 'gh', CHART, '--namespace', 'gatehouse', ...args]))
  const renderValues = async (file: string, ...args: string[]) => {
    const key = [file, ...args].join(' ')
    let objects = rendered.get(key)
    if (objects === undefined) {
      objects = await render('-f', `${CHART}/ci/${file}`, ...args)
      rendered.set(key, objects)
    }
    return objects
  }

  beforeAll(() => {
    helm = extractHelm()
  })
  afterAll(() => helm?.cleanup())

  it('has a values file for each shape', () => {
    expect(VALUES).toEqual([
      'forward-auth-envoy-values.yaml',
      'forward-auth-nginx-values.yaml',
      'full-values.yaml',
      'ingress-values.yaml',
      'minimal-values.yaml',
    ])
  })

  describe.each(VALUES)('%s', (file) => {
    it('passes helm lint --strict', async () => {
      const out = await helm.run(['lint', '--strict', CHART, '-f', `${CHART}/ci/${file}`])
      expect(out).toContain('1 chart(s) linted, 0 chart(s) failed')
    })

    it('renders objects that all validate against the Kubernetes API schemas', async () => {
      const objects = await renderValues(file)
      expect(objects.length).toBeGreaterThan(4)
      const problems = (await Promise.all(objects.map(validateObject))).flat()
      expect(problems).toEqual([])
      for (const o of objects) expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBeDefined()
    })

    it('renders a config that gatehouse check accepts, with the env the Deployment gives the pod', async () => {
      const r = await checkRenderedConfig(await renderValues(file), NAME)
      expect(r.err).not.toMatch(/^CONFIG_|problem/m)
      expect(r.code, r.err).toBe(0)
      expect(r.out).toMatch(/^ok: /)
    })

    it('runs gatehouse hardened: non-root, read-only root, no capabilities, seccomp, probes, preStop pause', async () => {
      const objects = await renderValues(file)
      const spec = podSpec(one(objects, 'Deployment', NAME)) as unknown as {
        securityContext: Record<string, unknown>
        containers: Record<string, unknown>[]
        automountServiceAccountToken: boolean
      }
      expect(spec.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } })
      expect(spec.automountServiceAccountToken).toBe(false)
      const c = spec.containers[0] as Record<string, unknown>
      expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } })
      expect(c.readinessProbe).toMatchObject({ httpGet: { path: '/readyz', port: 'proxy' } })
      expect(c.livenessProbe).toMatchObject({ httpGet: { path: '/healthz', port: 'proxy' } })
      expect(c.lifecycle).toMatchObject({ preStop: { exec: { command: ['sleep', '10'] } } })
      expect(c.env).toEqual(
        expect.arrayContaining([
          { name: 'COOKIE_SECRET', valueFrom: { secretKeyRef: { name: 'gatehouse', key: 'cookie_secret' } } },
          { name: 'IDP_CLIENT_SECRET', valueFrom: { secretKeyRef: { name: 'gatehouse', key: 'idp_client_secret' } } },
        ]),
      )
      expect(one(objects, 'PodDisruptionBudget', NAME).spec).toMatchObject({ maxUnavailable: 1 })
    })
  })

  it('no rendered object has a field the API does not know (kubectl apply refuses unknown fields)', async () => {
    const all = (await Promise.all(VALUES.map((f) => renderValues(f)))).flat()
    expect(await findUnknownFields(all)).toEqual([])
  })

  it('ingress shape: a LoadBalancer that keeps the client address, HTTPS served by gatehouse, probes over HTTPS', async () => {
    const objects = await renderValues('ingress-values.yaml')
    expect(one(objects, 'Service', NAME).spec).toMatchObject({
      type: 'LoadBalancer',
      externalTrafficPolicy: 'Local',
      ports: [{ name: 'https', port: 443 }, { name: 'metrics' }],
    })
    const r = await checkRenderedConfig(objects, NAME)
    expect(r.config).toContain('certificate_file: /etc/gatehouse/tls/tls.crt')
    expect(r.config).not.toContain('insecure_server')
    expect(r.out).toContain('2 routes on 2 hosts')
    const c = podSpec(one(objects, 'Deployment', NAME)).containers[0] as unknown as { readinessProbe: { httpGet: { scheme: string } } }
    expect(c.readinessProbe.httpGet.scheme).toBe('HTTPS')
    expect(find(objects, 'Ingress')).toEqual([])
  })

  it('ingress-nginx shape: /.gatehouse/ on every route host goes to gatehouse, and NOTES show the annotations', async () => {
    const objects = await renderValues('forward-auth-nginx-values.yaml')
    const ingress = one(objects, 'Ingress', NAME).spec as { rules: { host: string; http: { paths: { path: string }[] } }[] }
    expect(ingress.rules.map((r) => [r.host, r.http.paths[0]?.path])).toEqual([
      ['grafana.corp.example', '/.gatehouse/'],
      ['wiki.corp.example', '/.gatehouse/'],
    ])
    expect((await checkRenderedConfig(objects, NAME)).config).toContain('trusted_proxies:\n- 10.244.0.0/16')
    const install = await helm.run(['install', 'gh', CHART, '--namespace', 'gatehouse', '--dry-run=client', '-f', `${CHART}/ci/forward-auth-nginx-values.yaml`])
    const notes = install.slice(install.indexOf('NOTES:'))
    expect(notes).toContain('nginx.ingress.kubernetes.io/auth-url: "http://gh-gatehouse.gatehouse.svc.cluster.local/.gatehouse/verify"')
    expect(notes).toContain('nginx.ingress.kubernetes.io/auth-signin: "https://$host/.gatehouse/sign_in"')
    expect(notes).toContain('auth-response-headers: "X-Gatehouse-Jwt-Assertion,X-Auth-Request-User,X-Auth-Request-Email,X-Auth-Request-Groups')
  })

  it('Envoy Gateway shape: a SecurityPolicy asking /.gatehouse/forward_auth, its ReferenceGrant, and the /.gatehouse/ HTTPRoute', async () => {
    const objects = await renderValues('forward-auth-envoy-values.yaml')
    const policy = one(objects, 'SecurityPolicy', NAME)
    expect(policy.metadata.namespace).toBe('monitoring')
    expect(policy.spec).toMatchObject({
      targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'grafana' }],
      extAuth: {
        headersToExtAuth: expect.arrayContaining(['cookie', 'accept']),
        http: {
          backendRefs: [{ name: NAME, namespace: 'gatehouse', port: 80 }],
          path: '/.gatehouse/forward_auth',
          headersToBackend: expect.arrayContaining(['X-Pomerium-Jwt-Assertion', 'X-Auth-Request-Email']),
        },
      },
    })
    expect(one(objects, 'ReferenceGrant').spec).toMatchObject({
      from: [{ kind: 'SecurityPolicy', namespace: 'monitoring' }],
      to: [{ kind: 'Service', name: NAME }],
    })
    expect(one(objects, 'HTTPRoute', NAME).spec).toMatchObject({
      parentRefs: [{ name: 'eg', namespace: 'envoy-gateway-system' }],
      hostnames: ['grafana.corp.example'],
      rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/.gatehouse/' } }] }],
    })
  })

  it('a misspelt or mistyped field fails the checks (they are not a rubber stamp)', async () => {
    const objects = await renderValues('forward-auth-envoy-values.yaml')
    const policy = one(objects, 'SecurityPolicy', NAME) as KubeObject & { spec: { extAuth: Record<string, unknown> } }
    const broken = { ...policy, spec: { ...policy.spec, extAuth: { ...policy.spec.extAuth, headersToExtAuht: ['cookie'] } } }
    expect(await validateObject(broken)).toEqual([expect.stringContaining('headersToExtAuht')])
    const deployment = one(objects, 'Deployment', NAME) as KubeObject & { spec: Record<string, unknown> }
    expect(await validateObject({ ...deployment, spec: { ...deployment.spec, replicas: 'two' } })).toEqual([
      expect.stringContaining('/spec/replicas must be integer'),
    ])
    expect(await validateObject({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } })).toEqual([
      'Widget/w: no schema for example.com/v1 Widget',
    ])
  })

  it('everything on: Redis for the sessions, an autoscaler instead of a fixed replica count, ServiceMonitor, NetworkPolicies', async () => {
    const objects = await renderValues('full-values.yaml')
    const deployment = one(objects, 'Deployment', NAME).spec as Record<string, unknown>
    expect(deployment.replicas).toBeUndefined()
    expect(one(objects, 'HorizontalPodAutoscaler', NAME).spec).toMatchObject({
      minReplicas: 2,
      maxReplicas: 6,
      scaleTargetRef: { kind: 'Deployment', name: NAME },
    })
    expect(one(objects, 'Deployment', 'gh-gatehouse-redis')).toBeDefined()
    expect(one(objects, 'Service', 'gh-gatehouse-redis')).toBeDefined()
    const r = await checkRenderedConfig(objects, NAME)
    expect(r.config).toContain('databroker_storage_type: redis')
    expect(r.config).toContain('databroker_storage_connection_string: redis://gh-gatehouse-redis:6379')
    expect(r.out).toContain('session store: redis')
    expect(one(objects, 'ServiceMonitor', NAME).spec).toMatchObject({ endpoints: [{ port: 'metrics', path: '/metrics' }] })
    const policy = one(objects, 'NetworkPolicy', NAME).spec as { ingress: { from?: unknown[] }[]; egress: { ports?: { port: number }[] }[] }
    expect(policy.ingress[0]?.from).toEqual([{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } } }])
    expect(policy.egress.some((e) => e.ports?.some((p) => p.port === 6379))).toBe(true)
    expect(one(objects, 'NetworkPolicy', 'gh-gatehouse-redis').spec).toMatchObject({ ingress: [{ from: [{ podSelector: {} }] }] })
  })

  it('routes and policies reload in place; IdP, store and secret settings roll the pods', async () => {
    const checksum = async (...set: string[]) => {
      const objects = await render('-f', `${CHART}/ci/minimal-values.yaml`, ...set.flatMap((s) => ['--set', s]))
      return (one(objects, 'Deployment', NAME).spec as { template: { metadata: { annotations: Record<string, string> } } }).template.metadata.annotations[
        'gatehouse.io/restart-checksum'
      ]
    }
    const base = await checksum()
    expect(await checksum('routes[0].from=https://grafana.corp.example', 'routes[0].to=http://grafana-v2.monitoring.svc:3000')).toBe(base)
    expect(await checksum('config.idp_provider_url=https://acme.okta.com/oauth2/aus1')).not.toBe(base)
    expect(await checksum('existingSecret=gatehouse-v2')).not.toBe(base)
    expect(await checksum('sessionStore.type=redis', 'sessionStore.connectionString=redis://r:6379')).not.toBe(base)
  })

  it('takes the Postgres connection string, password and all, from the Secret', async () => {
    const objects = await render(
      '-f',
      `${CHART}/ci/minimal-values.yaml`,
      ...['replicaCount=3', 'sessionStore.type=postgres', 'secretKeys.storageConnectionString=postgres_dsn'].flatMap((s) => ['--set', s]),
    )
    const r = await checkRenderedConfig(objects, NAME)
    expect(r.code, r.err).toBe(0)
    expect(r.out).toContain('session store: postgres')
    expect(r.config).toContain('databroker_storage_type: postgres')
    expect(r.config).not.toContain('databroker_storage_connection_string')
    const env = (podSpec(one(objects, 'Deployment', NAME)).containers[0] as unknown as { env: unknown[] }).env
    expect(env).toContainEqual({ name: 'DATABROKER_STORAGE_CONNECTION_STRING', valueFrom: { secretKeyRef: { name: 'gatehouse', key: 'postgres_dsn' } } })
  })

  it('passes workers through to the config only when it is set', async () => {
    const config = async (...set: string[]) => {
      const objects = await render('-f', `${CHART}/ci/minimal-values.yaml`, ...set.flatMap((s) => ['--set', s]))
      return (one(objects, 'ConfigMap', NAME).data as Record<string, string>)['config.yaml'] ?? ''
    }
    expect(await config()).not.toContain('workers')
    expect(await config('workers=4')).toMatch(/^workers: 4$/m)
    expect(await config('workers=auto')).toMatch(/^workers: auto$/m)
  })

  it.each([
    ['no Secret named', ['existingSecret='], 'existingSecret: name the Secret'],
    ['a secret in the config', ['config.cookie_secret=abc'], 'config.cookie_secret: the chart sets this key'],
    ['memory sessions with two replicas', ['replicaCount=2'], 'sessionStore.type: memory keeps sessions per pod'],
    ['forward-auth with no trusted proxies', ['mode=forwardAuth'], 'trustedProxies: in forwardAuth mode'],
    ['an unknown mode', ['mode=sidecar'], "at '/mode': value must be one of 'ingress', 'forwardAuth'"],
    ['redis without an address', ['sessionStore.type=redis'], 'needs sessionStore.connectionString'],
    ['a misspelt value (values.schema.json)', ['replicaCont=2'], "additional properties 'replicaCont' not allowed"],
    ['workers that is neither a count nor auto', ['workers=many'], "at '/workers'"],
  ])('refuses %s with a message naming the value', async (_name, set, message) => {
    const r = await helm.attempt(['template', 'gh', CHART, '-f', `${CHART}/ci/minimal-values.yaml`, ...set.flatMap((s) => ['--set', s])])
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain(message)
  })
})
