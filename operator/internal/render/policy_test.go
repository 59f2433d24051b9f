package render

import (
	"maps"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"

	"xinfang.io/operator/api/v1alpha1"
)

// The county's policies: isolate-county selects every pod of the namespace
// (so everything inbound is denied but what some rule admits) and admits
// the county's own pods anywhere and the monitoring namespace to the
// services' ports only; the ingress namespace reaches intake's port on
// intake's pods only. Without a monitoring or ingress namespace their rule
// or policy is not rendered.
func TestIsolationPolicy(t *testing.T) {
	for _, layout := range []v1alpha1.Layout{v1alpha1.LayoutPodPerService, v1alpha1.LayoutPodPerCounty} {
		c := sample(t)
		c.Spec.Layout = layout
		nps := NetworkPolicies(c, opts)
		if len(nps) != 2 || nps[0].Name != IsolationPolicy || nps[1].Name != "allow-ingress-intake" {
			t.Fatalf("%s: policies %v", layout, policyNames(nps))
		}
		iso := nps[0]
		if len(iso.Spec.PodSelector.MatchLabels)+len(iso.Spec.PodSelector.MatchExpressions) != 0 {
			t.Errorf("%s: %s selects %v, want every pod", layout, iso.Name, iso.Spec.PodSelector)
		}
		if len(iso.Spec.Ingress) != 2 {
			t.Fatalf("%s: %d rules, want the county's own and monitoring's", layout, len(iso.Spec.Ingress))
		}
		own, mon := iso.Spec.Ingress[0], iso.Spec.Ingress[1]
		if from(own) != Namespace(c) || len(own.Ports) != 0 {
			t.Errorf("%s: first rule admits %s on %d ports, want the county's namespace on any", layout, from(own), len(own.Ports))
		}
		if from(mon) != opts.MonitoringNamespace || len(mon.Ports) != len(Services) {
			t.Errorf("%s: second rule admits %s on %d ports, want %s on the %d services' ports", layout, from(mon), len(mon.Ports), opts.MonitoringNamespace, len(Services))
		}
		for i, p := range mon.Ports {
			if p.Port == nil || p.Port.IntVal != Services[i].Port {
				t.Errorf("%s: monitoring port %d is %v, want %d", layout, i, p.Port, Services[i].Port)
			}
		}
		in := nps[1]
		intake := Services[0]
		if got, want := in.Spec.PodSelector.MatchLabels, selector(c, WorkloadOf(c, intake)); len(got) == 0 || !maps.Equal(got, want) {
			t.Errorf("%s: ingress policy selects %v, want %v", layout, got, want)
		}
		if len(in.Spec.Ingress) != 1 || from(in.Spec.Ingress[0]) != opts.IngressNamespace ||
			len(in.Spec.Ingress[0].Ports) != 1 || in.Spec.Ingress[0].Ports[0].Port.IntVal != intake.Port {
			t.Errorf("%s: ingress rules %+v", layout, in.Spec.Ingress)
		}
	}

	o := opts
	o.MonitoringNamespace, o.IngressNamespace = "", ""
	nps := NetworkPolicies(sample(t), o)
	if len(nps) != 1 || len(nps[0].Spec.Ingress) != 1 || from(nps[0].Spec.Ingress[0]) != Namespace(sample(t)) {
		t.Fatalf("without monitoring and ingress namespaces: %v, rules %+v", policyNames(nps), nps[0].Spec.Ingress)
	}
}

func policyNames(nps []*networkingv1.NetworkPolicy) []string {
	var names []string
	for _, np := range nps {
		names = append(names, np.Name)
	}
	return names
}

// from is the namespace a rule's only peer selects by name.
func from(r networkingv1.NetworkPolicyIngressRule) string {
	if len(r.From) != 1 || r.From[0].NamespaceSelector == nil {
		return ""
	}
	return r.From[0].NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"]
}
