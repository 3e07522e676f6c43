import autocannon from 'autocannon'
import type { RequestSpec } from './scenarios.js'

/** What one autocannon run measured. Latencies in milliseconds. */
export interface Measurement {
  connections: number
  seconds: number
  /** Answers received within the run. */
  requests: number
  requestsPerSecond: number
  latency: { mean: number; p50: number; p97_5: number; p99: number; max: number }
  /** Connection errors and timeouts (autocannon counts timeouts among its errors). */
  errors: number
  timeouts: number
  non2xx: number
  statusCodes: Record<string, number>
  /** CPU time per request, in microseconds, of the server process and of the database server (Linux only). */
  cpu?: { serverMicros?: number; databaseMicros?: number }
}

export interface LoadOptions {
  url: string
  connections: number
  seconds: number
  timeoutSeconds: number
  /** The n-th request of this run. */
  next: () => RequestSpec
}

/**
 * Drives `url` with autocannon for `seconds` over `connections` keep-alive connections; every request is built
 * afresh by `next`, so tokens and ids rotate per request, not per connection.
 */
export async function drive (options: LoadOptions): Promise<Measurement> {
  const result = await autocannon({
    url: options.url,
    connections: options.connections,
    duration: options.seconds,
    timeout: options.timeoutSeconds,
    requests: [
      {
        setupRequest: (request) => {
          const spec = options.next()
          const headers: Record<string, string> = { authorization: `Bearer ${spec.token}` }
          if (spec.body !== undefined) headers['content-type'] = 'application/json'
          return { ...request, method: spec.method, path: spec.path, headers, ...(spec.body !== undefined && { body: spec.body }) }
        },
      },
    ],
  })
  const statusCodes: Record<string, number> = {}
  for (const [code, { count }] of Object.entries(result.statusCodeStats ?? {})) statusCodes[code] = count ?? 0
  return {
    connections: options.connections,
    seconds: result.duration,
    requests: result.requests.total,
    requestsPerSecond: result.requests.total / result.duration,
    latency: {
      mean: result.latency.mean,
      p50: result.latency.p50,
      p97_5: result.latency.p97_5,
      p99: result.latency.p99,
      max: result.latency.max,
    },
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    statusCodes,
  }
}

/** The median run of several, by throughput (its latencies come with it, so the figures stay from one run). */
export function medianRun (runs: Measurement[]): Measurement {
  const sorted = [...runs].sort((a, b) => a.requestsPerSecond - b.requestsPerSecond)
  return sorted[Math.floor((sorted.length - 1) / 2)]!
}
