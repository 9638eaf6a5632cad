/** docs/configuration.md, generated from keys.ts (a test keeps the committed file equal to this). */
import { GLOBAL_KEYS, ROUTE_KEYS, envNameOf, type KeySpec } from './keys.js'

function row(k: KeySpec, withEnv: boolean): string {
  const def = k.default === undefined ? '' : `\`${k.default}\``
  const name = k.hasFile === true ? `\`${k.key}\` / \`${k.key}_file\`` : `\`${k.key}\``
  const cells = [name, k.kind, def, k.doc.replace(/\|/g, '\\|')]
  if (withEnv) cells.splice(1, 0, k.kind === 'routes' ? '' : `\`${envNameOf(k.key)}\``)
  return `| ${cells.join(' | ')} |`
}

export function renderConfigReference(): string {
  const supported = (ks: readonly KeySpec[]) => ks.filter((k) => k.status === 'supported' || k.status === 'gatehouse')
  const refused = (ks: readonly KeySpec[]) => ks.filter((k) => k.status === 'refused').map((k) => `| \`${k.key}\` | ${k.doc.replace(/\|/g, '\\|')} |`)
  const notYet = (ks: readonly KeySpec[]) =>
    ks
      .filter((k) => k.status === 'not-yet')
      .map((k) => `\`${k.key}\``)
      .join(', ')
  return [
    '# Configuration reference',
    '',
    '<!-- Generated from src/config/keys.ts by renderConfigReference(); do not edit by hand. -->',
    '',
    "One YAML file (`-c PATH`, or `GATEHOUSE_CONFIG`, default `config/gatehouse.yaml`) in Pomerium's shape.",
    '`${VAR}` in any value is replaced by the environment variable (a missing one is an error; `$${` is a literal `${`).',
    'Every top-level key can also be set from the environment by its upper-case name, which wins over the file.',
    'Keys marked with `_file` read the value from a file.',
    '',
    '## Global keys',
    '',
    '| key | environment | kind | default | meaning |',
    '|---|---|---|---|---|',
    ...supported(GLOBAL_KEYS).map((k) => row(k, true)),
    '',
    '## Route keys',
    '',
    '| key | kind | default | meaning |',
    '|---|---|---|---|',
    ...supported(ROUTE_KEYS).map((k) => row(k, false)),
    '',
    '## Keys not supported yet',
    '',
    'Every Pomerium key gatehouse does not implement is in one of two classes.',
    '',
    '### Refused: they restrict access',
    '',
    'A key that restricts access (or decides which route judges a request, or which resource the upstream serves)',
    'is never ignored: it is a config error (`CONFIG_UNSUPPORTED_RESTRICTION`) with its position and what to do.',
    '',
    '| key | what it would restrict, and what to do |',
    '|---|---|',
    ...refused(GLOBAL_KEYS),
    ...refused(ROUTE_KEYS).map((row) => row.replace(/^\| `/, '| route `')),
    '',
    '### Ignored: they restrict nothing',
    '',
    'These load with a warning that names them, and are ignored: without them gatehouse lets no one in that the',
    'key would have kept out (a missing upstream certificate or server name makes the upstream connection fail, not',
    'open).',
    '',
    `Global: ${notYet(GLOBAL_KEYS)}.`,
    '',
    `Route: ${notYet(ROUTE_KEYS)}.`,
    '',
  ].join('\n')
}
