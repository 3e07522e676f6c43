import { withDevSecret } from '../auth/dev-secret.js'
import { mintToken } from '../auth/token.js'
import { exitWith, loadConfigOrExit } from '../startup.js'

/** `npm run token -- <user-id>`: prints a bearer token the API accepts, signed with the configured secret. */
const [userId] = process.argv.slice(2)
if (userId === undefined || userId === '') exitWith('Usage: npm run token -- <user-id>')
const config = await withDevSecret(loadConfigOrExit())
const { BETTER_AUTH_SECRET } = config
if (BETTER_AUTH_SECRET === undefined) {
  exitWith(
    'Configuration error: BETTER_AUTH_SECRET: npm run token needs it when NODE_ENV=production (no development secret is generated there)'
  )
}
console.log(mintToken({ ...config, BETTER_AUTH_SECRET }, userId))
