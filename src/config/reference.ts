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
  const supported = (ks: readonly KeySpec[]) => ks.filter((k) => k.status !== 'not-yet')
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
    'These load with a warning that names them, and are ignored:',
    '',
    `Global: ${notYet(GLOBAL_KEYS)}.`,
    '',
    `Route: ${notYet(ROUTE_KEYS)}.`,
    '',
  ].join('\n')
}
