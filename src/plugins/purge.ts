import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import { PurgeRepository } from '../repositories/purge.js'
import { IDEMPOTENCY_KEY_LIFETIME_MS } from '../repositories/tasks.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Deletes expired tombstones and idempotency keys now; runs by itself every hour. */
    purgeExpired(): Promise<PurgeCounts>
  }
}

export interface PurgeCounts {
  tombstones: number
  idempotencyKeys: number
}

const INTERVAL_MS = 60 * 60 * 1000
const BATCH = 1000

/**
 * Purges in the background, in batches, one statement at a time; a failure is logged and retried on the next
 * run. Several instances may purge at once: batches skip each other's rows.
 */
const purge: FastifyPluginAsync = async (fastify) => {
  const repository = new PurgeRepository(fastify.db.orm)
  const retentionMs = fastify.settings.syncRetentionMs

  /** Runs batches until one comes back short; returns how many rows went in all. */
  async function drain (batch: () => Promise<number>): Promise<number> {
    let total = 0
    let purged: number
    do {
      purged = await batch()
      total += purged
    } while (purged === BATCH)
    return total
  }

  async function purgeExpired (): Promise<PurgeCounts> {
    const now = fastify.now().getTime()
    // Which tombstones go decides only when clients get 410, never whether one misses a deletion: a sync token
    // behind a purged tombstone is refused (see TaskRepository.changes), whatever the clocks say.
    const tombstonesBefore = new Date(now - retentionMs)
    const keysBefore = new Date(now - IDEMPOTENCY_KEY_LIFETIME_MS)
    return {
      tombstones: await drain(() => repository.tombstones(tombstonesBefore, BATCH)),
      idempotencyKeys: await drain(() => repository.idempotencyKeys(keysBefore, BATCH)),
    }
  }

  let running: Promise<unknown> = Promise.resolve()
  const timer = setInterval(() => {
    running = purgeExpired().then(
      (counts) => fastify.log.info(counts, 'purged expired tombstones and idempotency keys'),
      (error: unknown) => fastify.log.warn({ err: error }, 'purge failed; the next run retries')
    )
  }, INTERVAL_MS)
  // A pending purge never keeps the process alive; closing waits for a running one before the database closes.
  timer.unref()
  fastify.addHook('onClose', async () => {
    clearInterval(timer)
    await running
  })
  fastify.decorate('purgeExpired', purgeExpired)
}

export default fp(purge, { name: 'purge', dependencies: ['env', 'clock', 'db'] })
