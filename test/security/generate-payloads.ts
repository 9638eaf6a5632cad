// Regenerates open-redirect-payloads.json: npx tsx test/security/generate-payloads.ts
import { writeFileSync } from 'node:fs'
import { generatePayloads } from './payloads.js'

writeFileSync(new URL('./open-redirect-payloads.json', import.meta.url), JSON.stringify(generatePayloads('app.localhost'), null, 1) + '\n')
