import { withDevSecret } from './auth/dev-secret.js'
import { mintToken } from './auth/token.js'
import { exitWith, loadConfigOrExit } from './startup.js'

/** `npm run token -- <user-id>`: prints a bearer token the API accepts, signed with the configured secret. */
const [userId] = process.argv.slice(2)
if (userId === undefined || userId === '') exitWith('Usage: npm run token -- <user-id>')
console.log(mintToken(await withDevSecret(loadConfigOrExit()), userId))
