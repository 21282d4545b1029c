// kube_recycler_kube_requests_total's labels: the resource and verb of a
// request from its path, bounded to what the service's code sends.

import t from 'tap'
import { resourceOf, verbOf } from '../../src/kube/dispatcher.ts'

t.test('the resource is the plural in the path, whatever the name or subresource', async (t) => {
  const cases: Array<[string, string]> = [
    ['/api/v1/namespaces/shop/pods', 'pods'],
    ['/api/v1/namespaces/shop/pods/web-1/eviction', 'pods'],
    ['/apis/apps/v1/namespaces/shop/deployments/web?fieldManager=kube-recycler', 'deployments'],
    ['/apis/apps/v1/namespaces/shop/deployments?watch=true&fieldSelector=metadata.name%3Dweb', 'deployments'],
    ['/apis/coordination.k8s.io/v1/namespaces/kr/leases/kube-recycler', 'leases'],
    ['/api/v1/namespaces/kr', 'namespaces'],
    ['/apis/policy/v1/poddisruptionbudgets', 'poddisruptionbudgets'],
    ['/api/v1/nodes', 'nodes'],
    ['/version', 'version'],
    ['/', 'unknown'],
  ]
  for (const [path, resource] of cases) t.equal(resourceOf(path), resource, path)
})

t.test('a GET with watch=true is a WATCH; every other request is its method', async (t) => {
  t.equal(verbOf('GET', '/apis/apps/v1/namespaces/a/deployments?watch=true'), 'WATCH')
  t.equal(verbOf('GET', '/api/v1/namespaces/a/configmaps?labelSelector=x&watch=1&allowWatchBookmarks=true'), 'WATCH')
  t.equal(verbOf('GET', '/api/v1/namespaces/a/configmaps?watch=false'), 'GET')
  t.equal(verbOf('GET', '/api/v1/namespaces/a/configmaps/watch=true'), 'GET', 'a name is not a query')
  t.equal(verbOf('PATCH', '/apis/apps/v1/namespaces/a/deployments/web?watch=true'), 'PATCH')
})
