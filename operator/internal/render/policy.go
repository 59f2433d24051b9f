package render

import (
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"xinfang.io/operator/api/v1alpha1"
)

// namespaceSelector selects a namespace by the label the API server sets
// itself (kubernetes.io/metadata.name): a tenant cannot forge it onto its own
// namespace to get in.
func namespaceSelector(name string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": name}}
}

// IsolationPolicy names the NetworkPolicy that isolates a county's
// namespace: it selects every pod, so everything inbound is denied but
// what its rules and allow-ingress-intake admit.
const IsolationPolicy = "isolate-county"

// NetworkPolicies isolate the county: everything inbound is denied except
// from the county's own pods, from the ingress namespace to intake's public
// port, and from the monitoring namespace to every service's port (metrics).
// Another county's namespace never reaches in.
//
// Policies that select the same pods add up, so the deny and the rules for
// every pod are one policy (isolate-county, one rule each) and only the
// ingress rule, which selects intake's pods alone, is a policy of its own:
// two objects per county where there were four, each one an API-server
// write at provisioning and an object to watch (docs/benchmarks.md §4,
// session 13).
func NetworkPolicies(c *v1alpha1.County, o Options) []*networkingv1.NetworkPolicy {
	ns := Namespace(c)
	meta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels(c, "")}
	}
	tm := metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"}
	ingress := []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
	tcp := corev1.ProtocolTCP
	isolate := &networkingv1.NetworkPolicy{TypeMeta: tm, ObjectMeta: meta(IsolationPolicy), Spec: networkingv1.NetworkPolicySpec{
		PolicyTypes: ingress,
		Ingress:     []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: namespaceSelector(ns)}}}},
	}}
	if o.MonitoringNamespace != "" {
		var ports []networkingv1.NetworkPolicyPort
		for _, s := range Services {
			port := intstr.FromInt32(s.Port)
			ports = append(ports, networkingv1.NetworkPolicyPort{Protocol: &tcp, Port: &port})
		}
		isolate.Spec.Ingress = append(isolate.Spec.Ingress, networkingv1.NetworkPolicyIngressRule{
			From:  []networkingv1.NetworkPolicyPeer{{NamespaceSelector: namespaceSelector(o.MonitoringNamespace)}},
			Ports: ports,
		})
	}
	out := []*networkingv1.NetworkPolicy{isolate}
	if o.IngressNamespace != "" {
		for _, s := range Services {
			if !s.Public {
				continue
			}
			port := intstr.FromInt32(s.Port)
			out = append(out, &networkingv1.NetworkPolicy{TypeMeta: tm, ObjectMeta: meta("allow-ingress-" + s.Name), Spec: networkingv1.NetworkPolicySpec{
				PodSelector: metav1.LabelSelector{MatchLabels: selector(c, WorkloadOf(c, s))},
				PolicyTypes: ingress,
				Ingress: []networkingv1.NetworkPolicyIngressRule{{
					From:  []networkingv1.NetworkPolicyPeer{{NamespaceSelector: namespaceSelector(o.IngressNamespace)}},
					Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &port}},
				}},
			}})
		}
	}
	return out
}

// PodDisruptionBudget keeps one pod of a replicated workload up during node
// drains and other voluntary evictions. A workload with a single replica
// gets none (nil): a budget that allows one disruption of one pod protects
// nothing, yet it would cost an object per workload and the disruption
// controller's status writes on every pod change of the county. When the
// replicas drop to one, the budget is pruned like any object no longer
// rendered.
func PodDisruptionBudget(c *v1alpha1.County, w Workload) *policyv1.PodDisruptionBudget {
	if Replicas(c, w) <= 1 {
		return nil
	}
	one := intstr.FromInt32(1)
	return &policyv1.PodDisruptionBudget{
		TypeMeta:   metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"},
		ObjectMeta: metav1.ObjectMeta{Name: w.Name, Namespace: Namespace(c), Labels: labels(c, w.Name)},
		Spec: policyv1.PodDisruptionBudgetSpec{
			Selector:     &metav1.LabelSelector{MatchLabels: selector(c, w)},
			MinAvailable: &one,
		},
	}
}
