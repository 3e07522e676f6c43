import { fileURLToPath } from 'node:url'

/**
 * Everything the benchmark can be told, from the environment. The defaults are the full run test/bench/README.md
 * documents (about 25 minutes on 2 cores); develop with short ones, e.g.
 * `BENCH_SECONDS=2 BENCH_ROUNDS=1 BENCH_CONNECTIONS=50,200 npm run bench`.
 */
export interface Settings {
  /** An admin URL of a PostgreSQL server where `tasks_bench_*` databases may be created and dropped. */
  adminUrl: string
  /** Seconds each measured run lasts, and the unmeasured warm-up before it. */
  seconds: number
  warmupSeconds: number
  /** Each (scenario, connections) pair is measured this many times per system, alternating; medians are reported. */
  rounds: number
  /** Connection counts every main scenario runs at. */
  connections: number[]
  /** Connections of the single-user runs (10,000-task user vs 100-task user). */
  flatConnections: number
  /** autocannon's per-request timeout, in seconds. */
  timeoutSeconds: number
  users: number
  tasksPerUser: number
  bigUserTasks: number
  /** Also grow the table to `bigTableTasks` rows and measure list and get again. */
  bigTable: boolean
  bigTableTasks: number
  /** The PGlite comparison (list and get against a raw-PGlite ceiling). */
  pglite: boolean
  pgliteUsers: number
  pgliteConnections: number[]
  /** Only these scenarios, when set (names from scenarios.ts). */
  only: string[] | undefined
  /** Leave the database in place afterwards, for a look with psql. */
  keepDatabase: boolean
  /** Start the API and the ceiling with --cpu-prof, writing profiles under `<resultsDir>/profiles/`. */
  profile: boolean
  resultsDir: string
}

const DEFAULT_RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url))

export function loadSettings (env: NodeJS.ProcessEnv = process.env): Settings {
  const number = (name: string, fallback: number, minimum = 1): number => {
    const text = env[name]
    if (text === undefined || text === '') return fallback
    const value = Number(text)
    if (!Number.isFinite(value) || value < minimum) throw new Error(`${name}: expected a number ≥ ${minimum}, got "${text}"`)
    return value
  }
  const numbers = (name: string, fallback: number[]): number[] => {
    const text = env[name]
    if (text === undefined || text === '') return fallback
    const values = text.split(',').map((part) => Number(part.trim()))
    if (values.some((value) => !Number.isInteger(value) || value < 1)) throw new Error(`${name}: expected positive integers separated by commas, got "${text}"`)
    return values
  }
  const flag = (name: string, fallback: boolean): boolean => {
    const text = env[name]
    if (text === undefined || text === '') return fallback
    return !['0', 'false', 'no', 'off'].includes(text.toLowerCase())
  }
  return {
    adminUrl: env.BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres',
    seconds: number('BENCH_SECONDS', 10),
    warmupSeconds: number('BENCH_WARMUP_SECONDS', 2, 0),
    rounds: number('BENCH_ROUNDS', 3),
    connections: numbers('BENCH_CONNECTIONS', [100, 1000]),
    flatConnections: number('BENCH_FLAT_CONNECTIONS', 10),
    timeoutSeconds: number('BENCH_TIMEOUT_SECONDS', 10),
    users: number('BENCH_USERS', 1000),
    tasksPerUser: number('BENCH_TASKS_PER_USER', 100),
    bigUserTasks: number('BENCH_BIG_USER_TASKS', 10_000),
    bigTable: flag('BENCH_BIG', false),
    bigTableTasks: number('BENCH_BIG_TASKS', 1_000_000),
    pglite: flag('BENCH_PGLITE', true),
    pgliteUsers: number('BENCH_PGLITE_USERS', 100),
    pgliteConnections: numbers('BENCH_PGLITE_CONNECTIONS', [100]),
    only: env.BENCH_SCENARIOS ? env.BENCH_SCENARIOS.split(',').map((name) => name.trim()) : undefined,
    keepDatabase: flag('BENCH_KEEP_DB', false),
    profile: flag('BENCH_PROFILE', false),
    resultsDir: env.BENCH_RESULTS_DIR || DEFAULT_RESULTS_DIR,
  }
}
