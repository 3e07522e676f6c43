import { createHash } from 'node:crypto'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { HttpProblem, invalidRequest } from '../http/problem.js'
import { sendTask } from '../http/task-response.js'
import { RecordedResponse, type IdempotencyClaim } from '../repositories/tasks.js'

declare module 'fastify' {
  interface FastifyInstance {
    idempotency: IdempotentWrites
  }
}

/** How long a retry waits, in this process, for the first request with its key before answering 409. */
const IN_FLIGHT_WAIT_MS = 1000

/**
 * Retry-safe writes (contract §9). The database decides: the repository records the key with the write in one
 * statement. Here: the request's fingerprint, the in-flight rule, and sending a recorded response again.
 */
export class IdempotentWrites {
  private readonly inFlight = new Map<string, Promise<unknown>>()

  constructor (
    private readonly now: () => Date,
    private readonly inFlightWaitMs: number
  ) {}

  /** The claim a write makes with the request's key; undefined without one. */
  claim (request: FastifyRequest, status: number): IdempotencyClaim | undefined {
    const key = request.headers['idempotency-key']
    if (typeof key !== 'string') return undefined
    const fingerprint = createHash('sha256')
      .update(`${request.method} ${request.url}\n${JSON.stringify(canonical(request.body ?? null))}`)
      .digest('base64url')
    return { key, fingerprint, status, now: this.now() }
  }

  /**
   * Runs the write. A retry arriving while the first request with its key runs in this process waits for it
   * (then gets its response); past the wait, 409. Across processes the database makes the retry wait.
   */
  async once<T>(request: FastifyRequest, claim: IdempotencyClaim | undefined, write: () => Promise<T>): Promise<T> {
    if (claim === undefined) return write()
    const id = `${request.userId}\n${claim.key}`
    const running = this.inFlight.get(id)
    if (running !== undefined && !(await settlesWithin(running, this.inFlightWaitMs))) {
      throw new HttpProblem(409, 'A request with this Idempotency-Key is still running. Retry after it finishes.', { 'retry-after': '1' })
    }
    const result = write()
    this.inFlight.set(id, result)
    try {
      return await result
    } finally {
      if (this.inFlight.get(id) === result) this.inFlight.delete(id)
    }
  }

  /** Sends the first response again, or refuses a key reused for another request. */
  replay (reply: FastifyReply, recorded: RecordedResponse, claim: IdempotencyClaim): FastifyReply {
    if (recorded.fingerprint !== claim.fingerprint) {
      throw invalidRequest([{
        path: '/headers/idempotency-key',
        message: 'was used for another request (method, path or body): use a new key for a new request',
      }])
    }
    return sendTask(reply.header('idempotency-replayed', 'true'), recorded.status, recorded.task)
  }
}

/** Object keys sorted, so `{"a":1,"b":2}` and `{"b":2,"a":1}` are the same request. */
function canonical (value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical)
  if (value === null || typeof value !== 'object') return value
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((key) => [key, canonical((value as Record<string, unknown>)[key])])
  )
}

async function settlesWithin (promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms)
  })
  try {
    return await Promise.race([promise.then(() => true, () => true), timeout])
  } finally {
    clearTimeout(timer)
  }
}

export interface IdempotencyOptions {
  /** Tests shorten the in-flight wait. */
  inFlightWaitMs?: number
}

const idempotency: FastifyPluginAsync<IdempotencyOptions> = async (fastify, { inFlightWaitMs = IN_FLIGHT_WAIT_MS }) => {
  fastify.decorate('idempotency', new IdempotentWrites(() => fastify.now(), inFlightWaitMs))
}

export default fp(idempotency, { name: 'idempotency', dependencies: ['clock', 'auth'] })
