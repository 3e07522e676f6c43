import { readdirSync, readFileSync } from 'node:fs'

/**
 * CPU seconds spent by processes, from /proc (Linux only; elsewhere every figure is undefined). CPU time per
 * request holds up far better than req/s on a machine shared with other work: it is what each system costs,
 * whoever else is running.
 */

const TICKS_PER_SECOND = 100

/** utime, stime, cutime, cstime of one process, in seconds; undefined when it is gone or /proc is absent. */
function times (pid: number | string): { own: number; children: number; name: string; ppid: number } | undefined {
  let stat: string
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return undefined
  }
  // The command name is in parentheses and may hold spaces: the fields after it are fixed.
  const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const field = (index: number) => Number(fields[index - 3])
  return {
    name,
    ppid: field(4),
    own: (field(14) + field(15)) / TICKS_PER_SECOND,
    children: (field(16) + field(17)) / TICKS_PER_SECOND,
  }
}

/** CPU seconds a process has used so far. */
export function processCpu (pid: number | undefined): number | undefined {
  return pid === undefined ? undefined : times(pid)?.own
}

/**
 * CPU seconds used so far by each PostgreSQL process serving `database` (its connections, its autovacuum
 * workers), by pid, found by their process titles; undefined without a name. Other databases on the same server
 * (another project's tests, say) do not count, nor do the server-wide WAL writer and checkpointer.
 */
export function postgresCpu (database: string | undefined): Map<number, number> | undefined {
  if (database === undefined) return undefined
  let pids: string[]
  try {
    pids = readdirSync('/proc').filter((entry) => /^\d+$/.test(entry))
  } catch {
    return undefined
  }
  const used = new Map<number, number>()
  for (const pid of pids) {
    const process = times(pid)
    if (process === undefined || process.name !== 'postgres') continue
    let title: string
    try {
      title = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
    } catch {
      continue
    }
    if (title.replace(/\0/g, ' ').split(' ').includes(database)) used.set(Number(pid), process.own)
  }
  return used
}

/**
 * CPU seconds the processes spent between two readings of postgresCpu(). A connection that closed in between
 * (an idle pool's, say) is left out rather than subtracted; one that opened counts from zero.
 */
export function cpuBetween (before: Map<number, number> | undefined, after: Map<number, number> | undefined): number | undefined {
  if (before === undefined || after === undefined) return undefined
  let total = 0
  for (const [pid, seconds] of after) total += seconds - (before.get(pid) ?? 0)
  return total
}

/**
 * Resolves once the process and its database's PostgreSQL processes have gone quiet (together under `busyShare` of one core
 * over a quarter of a second), or after `maxMs`: a run that ended with requests in flight leaves the server a
 * backlog to work off, which must not eat into the next run, whoever's it is.
 */
export async function settle (pid: number | undefined, database: string | undefined, busyShare = 0.15, maxMs = 60_000): Promise<void> {
  const WINDOW_MS = 250
  const deadline = Date.now() + maxMs
  while (Date.now() < deadline) {
    const before = { server: processCpu(pid) ?? 0, database: postgresCpu(database) }
    await new Promise((resolve) => setTimeout(resolve, WINDOW_MS))
    const spent = (processCpu(pid) ?? 0) - before.server + (cpuBetween(before.database, postgresCpu(database)) ?? 0)
    if (spent / (WINDOW_MS / 1000) < busyShare) return
  }
}
