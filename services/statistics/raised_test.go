package statistics

import "testing"

func TestRaisedAlertsKeepTwoDays(t *testing.T) {
	var a raisedAlerts
	a.add("2026-06-25", map[string]bool{"k1": true})
	a.add("2026-06-26", map[string]bool{"k2": true})
	if !a.has("k1") || !a.has("k2") {
		t.Fatalf("after two days: k1 %v, k2 %v; want both", a.has("k1"), a.has("k2"))
	}
	a.add("2026-06-26", nil)
	a.add("2026-06-27", map[string]bool{"k3": true})
	if a.has("k1") || !a.has("k2") || !a.has("k3") || a.has("k4") {
		t.Errorf("on the third day: k1 %v k2 %v k3 %v k4 %v; want false true true false", a.has("k1"), a.has("k2"), a.has("k3"), a.has("k4"))
	}
}
