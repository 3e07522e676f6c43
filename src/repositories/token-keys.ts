import { eq } from 'drizzle-orm'
import type { Orm } from '../db/database.js'
import { tokenKeys } from '../db/schema.js'

export type TokenKeyPurpose = 'tokens'

/** The keys every instance shares, made by the migration that created `token_keys`. */
export class TokenKeyRepository {
  constructor (private readonly orm: Orm) {}

  /** The 32-byte key for `purpose`; throws when the row is missing or is not 64 hex digits. */
  async key (purpose: TokenKeyPurpose): Promise<Buffer> {
    const [row] = await this.orm.select({ key: tokenKeys.key }).from(tokenKeys).where(eq(tokenKeys.purpose, purpose))
    if (row === undefined || !/^[0-9a-f]{64}$/i.test(row.key)) {
      throw new Error(`The token_keys table has no valid '${purpose}' key (64 hex digits): run \`npm run db:migrate\`, or restore the row.`)
    }
    return Buffer.from(row.key, 'hex')
  }
}
