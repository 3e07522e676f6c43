/** One user the load is spread over: their token and the ids of their tasks. */
export interface BenchUser {
  id: string
  token: string
  /** Every seeded task of theirs, newest first. */
  taskIds: string[]
  /** The seeded tasks that were pending, for `complete`. */
  pendingIds: string[]
}

export interface RequestSpec {
  method: 'GET' | 'POST' | 'PATCH'
  path: string
  token: string
  body?: string
}

export interface Scenario {
  name: string
  /** What the request is, for the tables. */
  request: string
  kind: 'read' | 'write'
  /** The least throughput, as a fraction of the ceiling's, that the benchmark accepts. */
  minRatio: number
  /** The n-th request of a run: users in turn, and each user's tasks in turn. */
  build(users: BenchUser[], n: number): RequestSpec
}

/** Marks the tasks `create` makes, so the reset between runs can delete them by the tag index. */
export const CREATED_TAG = 'bench'

const userOf = (users: BenchUser[], n: number) => users[n % users.length]!
const nthOf = <T>(items: T[], users: BenchUser[], n: number) => items[Math.floor(n / users.length) % items.length]!

const get = (path: string): Scenario['build'] => (users, n) => ({ method: 'GET', path, token: userOf(users, n).token })

/** The named scenarios every system is driven with; the same requests go to the API and to its ceiling. */
export const SCENARIOS: Scenario[] = [
  {
    name: 'list',
    request: 'GET /api/tasks?limit=20',
    kind: 'read',
    minRatio: 0.85,
    build: get('/api/tasks?limit=20'),
  },
  {
    name: 'list-filtered',
    request: 'GET /api/tasks?status=pending&priority=high&sort=due_date&limit=20',
    kind: 'read',
    minRatio: 0.85,
    build: get('/api/tasks?status=pending&priority=high&sort=due_date&limit=20'),
  },
  {
    name: 'get',
    request: 'GET /api/tasks/{id}',
    kind: 'read',
    minRatio: 0.85,
    build: (users, n) => {
      const user = userOf(users, n)
      return { method: 'GET', path: `/api/tasks/${nthOf(user.taskIds, users, n)}`, token: user.token }
    },
  },
  {
    name: 'create',
    request: 'POST /api/tasks',
    kind: 'write',
    minRatio: 0.8,
    build: (users, n) => ({
      method: 'POST',
      path: '/api/tasks',
      token: userOf(users, n).token,
      body: JSON.stringify({ title: `Bench task ${n}`, priority: 'high', tags: [CREATED_TAG] }),
    }),
  },
  {
    name: 'complete',
    request: 'PATCH /api/tasks/{id}/complete {"completed": true}',
    kind: 'write',
    minRatio: 0.8,
    build: (users, n) => {
      const user = userOf(users, n)
      return { method: 'PATCH', path: `/api/tasks/${nthOf(user.pendingIds, users, n)}/complete`, token: user.token, body: '{"completed":true}' }
    },
  },
]

export function scenario (name: string): Scenario {
  const found = SCENARIOS.find((candidate) => candidate.name === name)
  if (found === undefined) throw new Error(`no scenario named ${name}`)
  return found
}
