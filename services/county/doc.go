// Package county holds the configuration of one county's petition bureau:
// its townships, departments, routing rules, deadline overrides, holiday
// calendar, escalation ladder and early-warning thresholds.
//
// The same Spec type is read by the four services (from the rules ConfigMap
// the operator renders) and embedded inline in the operator's County custom
// resource, so the CRD schema and the services' file format cannot drift.
// That is also why this package depends on nothing from k8s.io: services
// import it without pulling in a Kubernetes client.
//
// Every limit is stated twice on purpose: as a kubebuilder marker, which
// controller-gen turns into the CRD's OpenAPI schema and CEL rules, and in
// Validate, which services run on files that never went through an API
// server. markers_test.go checks that every marker has a Go twin.
//
// +kubebuilder:object:generate=true
package county
