/**
 * Where a server's CPU went: reads a V8 .cpuprofile (from `BENCH_PROFILE=1 npm run bench`, which starts the API
 * and the ceiling with --cpu-prof) and prints the busy time by area and the hottest functions.
 *
 *   node --import tsx test/bench/profile-summary.ts test/bench/results/profiles/api-postgres/CPU…cpuprofile [requests]
 *
 * With the number of requests the process served, it also prints microseconds per request. Profile one
 * scenario at a time (BENCH_SCENARIOS=list) to read it per scenario.
 */
import { readFileSync } from 'node:fs'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}

interface Profile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
}

/** Areas, first match wins, by the script URL (or the function name, for native frames). */
const AREAS: [string, RegExp][] = [
  ['idle', /^\(idle\)$/],
  ['garbage collection', /^\(garbage collector\)$/],
  ['start-up (module loading, tsx)', /node:internal\/modules|\/tsx\/|\/esbuild\/|cjs-module-lexer|get-tsconfig/],
  ['drizzle-orm (query building, result mapping)', /\/drizzle-orm\//],
  ['pg driver (protocol, pool, type parsing)', /\/(pg|pg-protocol|pg-pool|pg-types|postgres-date|postgres-array|postgres-interval|postgres-bytea)\//],
  ['PGlite', /\/@electric-sql\//],
  ['serialization (fast-json-stringify)', /\/fast-json-stringify\//],
  ['validation (ajv)', /\/(ajv|ajv-formats|@fastify\/ajv-compiler)\//],
  ['token check (jwt, jose)', /\/(@fastify\/jwt|fast-jwt|jose)\/|\/auth\/|auth\.ts/],
  ['logging (pino)', /\/(pino|pino-std-serializers|sonic-boom)\//],
  ['helmet, cors, rate limit', /\/(@fastify\/helmet|helmet|@fastify\/cors|@fastify\/rate-limit)\//],
  ['fastify core (routing, hooks, reply)', /\/(fastify|find-my-way|light-my-request|avvio|fast-querystring|@fastify\/[^/]+)\//],
  ['application code (src/)', /\/src\//],
  ['benchmark ceiling code', /\/test\/bench\//],
  ['node http, net, streams', /^node:/],
  ['native (syscalls: writev, reads)', /^$/],
]

function areaOf (frame: ProfileNode['callFrame']): string {
  const subject = frame.url === '' && frame.functionName.startsWith('(') ? frame.functionName : frame.url
  return AREAS.find(([, pattern]) => pattern.test(subject))?.[0] ?? 'other'
}

function summarize (profile: Profile, requests: number | undefined): string {
  const selfTime = new Map<number, number>()
  profile.samples.forEach((id, index) => selfTime.set(id, (selfTime.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0)))
  const byArea = new Map<string, number>()
  const byFunction = new Map<string, number>()
  for (const node of profile.nodes) {
    const time = selfTime.get(node.id) ?? 0
    const area = areaOf(node.callFrame)
    byArea.set(area, (byArea.get(area) ?? 0) + time)
    const where = node.callFrame.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*?\/(src|test)\//, '$1/')
    const name = `${node.callFrame.functionName || '(anonymous)'} ${where}:${node.callFrame.lineNumber + 1}`
    if (area !== 'idle') byFunction.set(name, (byFunction.get(name) ?? 0) + time)
  }
  const busy = [...byArea].filter(([area]) => area !== 'idle').reduce((sum, [, time]) => sum + time, 0)
  const line = (name: string, time: number) =>
    `${((100 * time) / busy).toFixed(1).padStart(6)}%  ${requests ? `${(time / requests).toFixed(0).padStart(6)} µs/req  ` : ''}${name}`
  const sorted = (map: Map<string, number>, count: number) =>
    [...map]
      .filter(([name]) => name !== 'idle')
      .sort((a, b) => b[1] - a[1])
      .slice(0, count)
      .map(([name, time]) => line(name, time))
  return [
    `busy ${(busy / 1e6).toFixed(2)} s of ${((busy + (byArea.get('idle') ?? 0)) / 1e6).toFixed(2)} s profiled${requests ? `, ${requests} requests: ${(busy / requests).toFixed(0)} µs/req` : ''}`,
    '',
    'by area (self time):',
    ...sorted(byArea, AREAS.length + 1),
    '',
    'hottest functions (self time):',
    ...sorted(byFunction, 25),
  ].join('\n')
}

const [file, requests] = process.argv.slice(2)
if (file === undefined) {
  console.error('usage: node --import tsx test/bench/profile-summary.ts <file.cpuprofile> [requests served]')
  process.exit(2)
}
console.log(summarize(JSON.parse(readFileSync(file, 'utf8')) as Profile, requests === undefined ? undefined : Number(requests)))
