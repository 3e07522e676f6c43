import { withDevSecret } from './auth/dev-secret.js'
import { mintToken } from './auth/token.js'
import { loadConfigFromProcess } from './config.js'

/** `npm run token -- <user-id>`: prints a bearer token the API accepts, signed with the configured secret. */
const [userId] = process.argv.slice(2)
if (userId === undefined || userId === '') {
  console.error('Usage: npm run token -- <user-id>')
  process.exit(1)
}
const config = loadConfigFromProcess()
console.log(mintToken(config.NODE_ENV === 'production' ? config : await withDevSecret(config), userId))
