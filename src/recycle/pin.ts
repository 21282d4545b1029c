// Which commit a recycle pins in the pod template. Pure: the service resolves
// the production head and hands over what the trigger said.
//
// The production head (git ls-remote of the site's branch) always wins. A
// commit that arrives in a Jenkins payload (GIT_COMMIT, scm.commit) is the
// commit of the JOB's repository — usually the integrity tests, not the site —
// so it becomes the pin only when the site says it is the site's own commit
// (`jenkins.commitIsSite: true`). Otherwise the recycle runs unpinned (the
// pods keep the template's pin, or take the branch head at start).

import type { SiteConfig } from '../config/types.ts'

export interface PinInputs {
  /** Newest commit of the site's production branch, when it was read. */
  head?: string
  /** The commit a Jenkins payload named. */
  payloadCommit?: string
}

export function pinCommit(site: Pick<SiteConfig, 'jenkins'>, inputs: PinInputs): string | undefined {
  if (inputs.head !== undefined) return inputs.head
  if (inputs.payloadCommit !== undefined && site.jenkins.commitIsSite) return inputs.payloadCommit
  return undefined
}
