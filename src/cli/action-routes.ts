// The operator actions and their routes, declared once: cli.ts lists them
// (without loading the HTTP client), cli/actions.ts runs them. A new action
// is one entry here and one line in cli.ts.
//
// DEPENDS ON the pause/approve API built in another branch at the same time.

export interface Action {
  /** The route; `{site}` or `{id}` is the command's argument. */
  route: string
  /** The route when the argument is left out (every site); absent: the argument is required. */
  all?: string
  /** One line for the help, and what the command says when it worked. */
  summary: string
  done: string
}

export const ACTIONS = {
  pause: {
    route: '/sites/{site}/pause',
    all: '/pause',
    summary: 'stop automatic recycles of SITE (or of every site) until resumed',
    done: 'paused',
  },
  resume: {
    route: '/sites/{site}/resume',
    all: '/resume',
    summary: 'let automatic recycles of SITE (or of every site) run again',
    done: 'resumed',
  },
  reset: {
    route: '/sites/{site}/reset',
    summary: "reset SITE's failure episode and circuit breaker (see /docs)",
    done: 'reset',
  },
  approve: {
    route: '/recycles/{id}/approve',
    summary: 'let a recycle that waits for an operator run',
    done: 'approved',
  },
  reject: { route: '/recycles/{id}/reject', summary: 'refuse a recycle that waits for an operator', done: 'rejected' },
} satisfies Record<string, Action>

export type ActionName = keyof typeof ACTIONS
