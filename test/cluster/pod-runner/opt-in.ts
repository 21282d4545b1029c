// How a namespace opts in to running its pods as processes: the label, and
// the annotations the PodNodeSelector and PodTolerationRestriction admission
// plugins read to send its pods to the runner's tainted nodes.
export const RUN_PODS_LABEL = 'kube-recycler.test/run-pods'
export const RUN_PODS_TAINT = { key: RUN_PODS_LABEL, value: 'true', effect: 'NoSchedule' }
export const NODE_SELECTOR_ANNOTATION = 'scheduler.alpha.kubernetes.io/node-selector'
export const DEFAULT_TOLERATIONS_ANNOTATION = 'scheduler.alpha.kubernetes.io/defaultTolerations'
export const NAMESPACE_ANNOTATIONS = {
  [NODE_SELECTOR_ANNOTATION]: `${RUN_PODS_LABEL}=true`,
  [DEFAULT_TOLERATIONS_ANNOTATION]: JSON.stringify([
    { key: RUN_PODS_TAINT.key, operator: 'Equal', value: RUN_PODS_TAINT.value, effect: RUN_PODS_TAINT.effect },
  ]),
}
