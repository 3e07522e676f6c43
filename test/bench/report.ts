import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Measurement } from './load.js'

/** One scenario at one connection count: the API and its ceiling, medians of the rounds. */
export interface Comparison {
  phase: string
  scenario: string
  request: string
  connections: number
  api: Measurement
  ceiling: Measurement
  /** API ÷ ceiling: throughput (higher is better) and p99 latency (lower is better). */
  ratio: { throughput: number; p99: number }
  rounds: { api: Measurement[]; ceiling: Measurement[] }
}

/** One of the benchmark's targets, as met (or not) by this run. */
export interface Check {
  target: string
  measured: string
  pass: boolean
}

export interface Report {
  machine: Record<string, unknown>
  settings: Record<string, unknown>
  startedAt: string
  finishedAt?: string
  notes: string[]
  comparisons: Comparison[]
  checks: Check[]
}

export function compare (
  phase: string,
  scenario: string,
  request: string,
  api: Measurement[],
  ceiling: Measurement[],
  median: (runs: Measurement[]) => Measurement
): Comparison {
  const [a, c] = [median(api), median(ceiling)]
  return {
    phase,
    scenario,
    request,
    connections: a.connections,
    api: a,
    ceiling: c,
    ratio: { throughput: a.requestsPerSecond / c.requestsPerSecond, p99: a.latency.p99 / c.latency.p99 },
    rounds: { api, ceiling },
  }
}

const fixed = (value: number, digits = 2) => (Number.isFinite(value) ? value.toFixed(digits) : '–')
const whole = (value: number) => Math.round(value).toLocaleString('en')
const failures = (m: Measurement) => `${m.errors}/${m.non2xx}`
const micros = (value: number | undefined) => (value === undefined ? '?' : String(Math.round(value)))
const cpu = (row: Comparison, part: 'serverMicros' | 'databaseMicros') => `${micros(row.api.cpu?.[part])}/${micros(row.ceiling.cpu?.[part])}`

/** The columns of both tables, console and Markdown. */
const COLUMNS: [string, (row: Comparison) => string][] = [
  ['phase', (row) => row.phase],
  ['scenario', (row) => row.scenario],
  ['conns', (row) => String(row.connections)],
  ['API req/s', (row) => whole(row.api.requestsPerSecond)],
  ['ceiling req/s', (row) => whole(row.ceiling.requestsPerSecond)],
  ['ratio', (row) => fixed(row.ratio.throughput)],
  ['API p50/p97.5/p99 ms', (row) => `${row.api.latency.p50}/${row.api.latency.p97_5}/${row.api.latency.p99}`],
  ['ceiling p50/p97.5/p99 ms', (row) => `${row.ceiling.latency.p50}/${row.ceiling.latency.p97_5}/${row.ceiling.latency.p99}`],
  ['p99 ratio', (row) => fixed(row.ratio.p99)],
  ['server CPU µs/req API/ceiling', (row) => cpu(row, 'serverMicros')],
  ['db CPU µs/req API/ceiling', (row) => (row.phase === 'pglite' ? '(in server)' : cpu(row, 'databaseMicros'))],
  ['API err/non-2xx', (row) => failures(row.api)],
  ['ceiling err/non-2xx', (row) => failures(row.ceiling)],
]

export function consoleTable (rows: Comparison[]): string {
  const cells = [COLUMNS.map(([title]) => title), ...rows.map((row) => COLUMNS.map(([, cell]) => cell(row)))]
  const widths = COLUMNS.map((_, column) => Math.max(...cells.map((line) => line[column]!.length)))
  return cells.map((line) => line.map((cell, column) => (column < 2 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  ')).join('\n')
}

export function checksText (checks: Check[]): string {
  return checks.map((check) => `${check.pass ? 'PASS' : 'FAIL'}  ${check.target}: ${check.measured}`).join('\n')
}

export function markdown (report: Report): string {
  const header = `| ${COLUMNS.map(([title]) => title).join(' | ')} |\n|${COLUMNS.map((_, column) => (column < 2 ? '---' : '---:')).join('|')}|`
  const lines = report.comparisons.map((row) => `| ${COLUMNS.map(([, cell]) => cell(row)).join(' | ')} |`)
  const machine = Object.entries(report.machine)
    .map(([key, value]) => `${key}: ${String(value)}`)
    .join('; ')
  const settings = Object.entries(report.settings)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `${key}=${JSON.stringify(value)}`)
    .join(', ')
  return [
    '# Benchmark: the API against its hand-written ceiling',
    '',
    `Run ${report.startedAt} → ${report.finishedAt ?? '(unfinished)'}. Machine: ${machine}.`,
    '',
    `Settings: ${settings}.`,
    '',
    'Each ratio is API ÷ ceiling in the same run: throughput (req/s, higher is better) and p99 latency (lower is better).',
    '"err/non-2xx" counts connection errors and timeouts, then answers outside 2xx. Medians of the rounds. Latencies',
    'count only the requests answered within the run, so with a short run at many connections they are capped near',
    'its length.',
    'CPU µs/req is the CPU time the server process, and the PostgreSQL backends serving the benchmark\'s database,',
    'spent per answered request during the measured run: steadier than req/s when other work shares the machine.',
    '',
    header,
    ...lines,
    '',
    '## Targets',
    '',
    ...report.checks.map((check) => `- ${check.pass ? '✅' : '❌'} ${check.target}: ${check.measured}`),
    ...(report.notes.length > 0 ? ['', '## Notes', '', ...report.notes.map((note) => `- ${note.replace(/\n/g, '\n  ')}`)] : []),
    '',
  ].join('\n')
}

export async function writeReport (report: Report, dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true })
  const files = [join(dir, 'bench.json'), join(dir, 'bench.md')]
  await writeFile(files[0]!, `${JSON.stringify(report, null, 2)}\n`)
  await writeFile(files[1]!, markdown(report))
  return files
}
