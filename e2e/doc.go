// Package e2e holds the end-to-end suites: the data plane (dev broker, a
// real PostgreSQL and the four services as separate processes) and the
// control plane (a real kube-apiserver + etcd, helm install of the operator
// chart, Counties applied). It is its own module so that none of its test
// dependencies reach a product binary. The suites arrive with the services
// and the operator (see docs/architecture.md).
package e2e
