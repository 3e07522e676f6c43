/**
 * What test/client/flow.ts takes and returns, in plain types: test/client.test.ts reads it without following
 * an import into the generated file, which exists only once the test has written it.
 */

export interface FlowOptions {
  /** Origin of a running server, such as `http://127.0.0.1:41234`. */
  baseUrl: string
  /** The caller: a user id and a bearer token whose `sub` is that id. */
  user: { id: string; token: string }
  /** Another user, whose token must not reach the caller's tasks. */
  otherUser: { id: string; token: string }
}

/** What a problem answer looked like, as the client saw it. */
export interface SeenProblem {
  status: number
  title: string
  detail: string
  requestIdMatchesHeader: boolean
  contentType: string | null
}

export interface SeenValidationProblem extends SeenProblem {
  /** `error.errors[0].path`: the first invalid field, such as `/body/title`. */
  firstPath: string
  paths: string[]
}

/** One response to a create sent with an Idempotency-Key. */
export interface IdempotentAttempt {
  status: number
  id: string
  location: string | null
  etag: string | null
  /** The `Idempotency-Replayed` header: `true` on a replay, absent (null) on the request that ran. */
  replayed: string | null
}

export interface FlowResult {
  created: { id: string; title: string; priority: string; tags: string[]; location: string | null }[]
  listing: {
    query: Record<string, unknown>
    pages: { titles: string[]; totalCount: number | null; next: string | null }[]
  }
  fetched: { title: string; etag: string }
  fetchedThroughUserPath: { id: string; user_id: string }
  updated: { title: string; priority: string; description: string | null; etag: string | null }
  completed: { completed: boolean; completedAtIsSet: boolean }
  stats: { total: number; completed: number; pending: number; overdue: number; by_priority: Record<string, number> }
  deleted: { status: number; getAfterwards: number }
  sync: {
    /** The `limit` of every pull. */
    limit: number
    /** How many changes each page held: the sync from nothing, then the incremental pull from its `next`. */
    fullPages: number[]
    incrementalPages: number[]
    /** The tasks deleted and updated between the two pulls. */
    deletedId: string
    updatedId: string
    /** The replica after both pulls, and GET /api/tasks right after: id and title, ordered by id. */
    replica: { id: string; title: string }[]
    live: { id: string; title: string }[]
    /** Ids of every tombstone either pull received, in order. */
    tombstoneIds: string[]
    /** Whether the incremental pull had the updated task, in its updated state. */
    incrementalHadUpdate: boolean
  }
  idempotency: {
    /** A create, then its retry with the same Idempotency-Key and body: what each response said. */
    attempts: IdempotentAttempt[]
    /** The same key with another body. */
    reusedKey: SeenValidationProblem
    /** The caller's task count (GET /api/tasks/stats) before the first attempt and after the reused key. */
    tasksBefore: number
    tasksAfter: number
  }
  errors: {
    missingToken: SeenProblem & { wwwAuthenticate: string | null }
    invalidToken: SeenProblem & { wwwAuthenticate: string | null }
    otherUsersTask: SeenProblem
    otherUserInPath: SeenProblem
    staleEtag: SeenProblem & { currentEtag: string | null }
    unknownId: SeenProblem
    emptyTitle: SeenValidationProblem
    wrongPriority: SeenValidationProblem
    /** Another user's client sends the caller's sync token as `since`. */
    foreignSyncToken: SeenValidationProblem
  }
}

export interface FlowModule {
  runFlow(options: FlowOptions): Promise<FlowResult>
}
