package controller

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"xinfang.io/operator/api/v1alpha1"
	"xinfang.io/operator/internal/render"
)

// Reasons of the Kubernetes Events the operator records on a County
// (events.k8s.io/v1; a cluster-scoped object's events live in the "default"
// namespace: `kubectl events --for county/<name> -n default`, or `kubectl
// describe county <name>`). One Event per transition of the status, never
// one per reconcile: they tell an operator of the platform what happened,
// the conditions tell what is.
const (
	// EventProvisioned: Ready became True.
	EventProvisioned = "Provisioned"
	// EventDegraded (Warning): Ready went from True to False.
	EventDegraded = "Degraded"
	// EventTopicsCreated: TopicsReady became True (created, or found).
	EventTopicsCreated = "TopicsCreated"
	// EventTopicsFailed (Warning): TopicsReady became False, or its reason
	// changed while False.
	EventTopicsFailed = "TopicsFailed"
	// EventConfigRolled: the county file holds a new rules version.
	EventConfigRolled = "ConfigRolled"
	// EventInvalidRules (Warning): the services would refuse the spec; the
	// county file keeps the last valid rules.
	EventInvalidRules = "InvalidRules"
	// EventPaused and EventResumed: spec.reconciliation changed.
	EventPaused  = "Paused"
	EventResumed = "Resumed"
	// EventDeletionBlocked (Warning): the Delete policy's cleanup failed; it
	// is retried.
	EventDeletionBlocked = "DeletionBlocked"
	// EventCleanedUp: the Delete policy's cleanup was accepted (namespace
	// and topic deletions); the County goes.
	EventCleanedUp = "CleanedUp"
)

func (r *CountyReconciler) event(c *v1alpha1.County, warning bool, reason, action, note string, args ...any) {
	if r.Recorder == nil {
		return
	}
	typ := "Normal"
	if warning {
		typ = "Warning"
	}
	r.Recorder.Eventf(c, nil, typ, reason, action, note, args...)
}

// recordTransitions records the Events for what changed between two
// statuses of c (before and after one status patch).
func (r *CountyReconciler) recordTransitions(c *v1alpha1.County, before, after *v1alpha1.CountyStatus) {
	if r.Recorder == nil {
		return
	}
	find := func(st *v1alpha1.CountyStatus, typ string) *metav1.Condition {
		return meta.FindStatusCondition(st.Conditions, typ)
	}
	is := func(cond *metav1.Condition, s metav1.ConditionStatus) bool { return cond != nil && cond.Status == s }
	reason := func(cond *metav1.Condition) string {
		if cond == nil {
			return ""
		}
		return cond.Reason
	}

	wasReady, ready := find(before, CondReady), find(after, CondReady)
	switch {
	case is(ready, metav1.ConditionTrue) && !is(wasReady, metav1.ConditionTrue):
		r.event(c, false, EventProvisioned, "Provision",
			"county instance ready in namespace %s: workloads available, rules version %s", render.Namespace(c), after.RulesVersion)
	case reason(ready) == ReasonPaused && reason(wasReady) != ReasonPaused:
		r.event(c, false, EventPaused, "Pause", "%s", ready.Message)
	case reason(ready) == ReasonDeleting && reason(wasReady) != ReasonDeleting:
		r.event(c, true, EventDeletionBlocked, "Delete", "%s", ready.Message)
	case is(wasReady, metav1.ConditionTrue) && is(ready, metav1.ConditionFalse):
		r.event(c, true, EventDegraded, "Reconcile", "Ready is False (%s): %s", ready.Reason, ready.Message)
	}
	if reason(wasReady) == ReasonPaused && ready != nil && ready.Reason != ReasonPaused {
		r.event(c, false, EventResumed, "Resume", "reconciliation is active again")
	}

	wasTopics, topics := find(before, CondTopicsReady), find(after, CondTopicsReady)
	switch {
	case is(topics, metav1.ConditionTrue) && !is(wasTopics, metav1.ConditionTrue):
		r.event(c, false, EventTopicsCreated, "CreateTopics", "%s", topics.Message)
	case is(topics, metav1.ConditionFalse) && (!is(wasTopics, metav1.ConditionFalse) || wasTopics.Reason != topics.Reason):
		r.event(c, true, EventTopicsFailed, "CreateTopics", "%s: %s", topics.Reason, topics.Message)
	}

	wasConfig, config := find(before, CondConfigReady), find(after, CondConfigReady)
	if reason(config) == ReasonInvalidRules && reason(wasConfig) != ReasonInvalidRules {
		r.event(c, true, EventInvalidRules, "RollConfig", "%s", config.Message)
	}
	if before.RulesVersion != "" && after.RulesVersion != before.RulesVersion {
		r.event(c, false, EventConfigRolled, "RollConfig",
			"rules version %s → %s written to ConfigMap %s/%s; the services reload it without a restart",
			before.RulesVersion, after.RulesVersion, render.Namespace(c), render.ConfigMapName)
	}
}
