package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"xinfang.io/operator/api/v1alpha1"
)

// Condition types. Ready summarises the six others.
const (
	CondReady              = "Ready"
	CondNamespaceReady     = "NamespaceReady"
	CondConfigReady        = "ConfigReady"
	CondTopicsReady        = "TopicsReady"
	CondDatabaseReady      = "DatabaseReady"
	CondWorkloadsAvailable = "WorkloadsAvailable"
	CondIsolationReady     = "IsolationReady"
)

// concerns are the conditions Ready summarises, in the order a reader fixes
// them: the first one that is not True gives Ready its reason.
var concerns = []string{CondNamespaceReady, CondConfigReady, CondTopicsReady, CondDatabaseReady, CondWorkloadsAvailable, CondIsolationReady}

// Reasons (CamelCase, as metav1.Condition requires). Each condition uses a
// few of them; docs for the lead list which.
const (
	// Generic.
	ReasonApplied     = "Applied"
	ReasonApplyFailed = "ApplyFailed"
	ReasonPaused      = "Paused"
	ReasonReady       = "Ready"
	ReasonReconciling = "Reconciling"
	ReasonDeleting    = "Deleting"

	// NamespaceReady.
	ReasonTerminating = "Terminating"

	// ConfigReady.
	ReasonInvalidRules = "InvalidRules"
	ReasonRenderFailed = "RenderFailed"

	// TopicsReady.
	ReasonTopicsCreated       = "TopicsCreated"
	ReasonKafkaUnreachable    = "KafkaUnreachable"
	ReasonKafkaSecretInvalid  = "KafkaSecretInvalid"
	ReasonStrimziTopicsReady  = "StrimziTopicsReady"
	ReasonStrimziPending      = "StrimziTopicsPending"
	ReasonStrimziNotInstalled = "StrimziNotInstalled"

	// DatabaseReady.
	ReasonSecretFound    = "SecretFound"
	ReasonSecretMissing  = "SecretMissing"
	ReasonSecretKeyEmpty = "SecretKeyMissing"
	ReasonVolumesBound   = "VolumesBound"
	ReasonVolumesPending = "VolumesPending"
	ReasonVolumeLost     = "VolumeLost"
	ReasonVolumeMissing  = "VolumeMissing"

	// WorkloadsAvailable.
	ReasonAvailable        = "Available"
	ReasonProgressing      = "Progressing"
	ReasonDeadlineExceeded = "ProgressDeadlineExceeded"
	ReasonRolloutQueued    = "RolloutQueued"

	// IsolationReady.
	ReasonPoliciesApplied = "PoliciesApplied"
)

// How long to wait before looking again at something no watch reports
// (a Secret the bureau has to create, Kafka, Strimzi's topic status).
const (
	requeueWaiting = 30 * time.Second
	requeueError   = 15 * time.Second
)

// state collects what one reconcile found: the conditions of each concern,
// the endpoints and rules version, errors, and when to look again. The
// concerns run concurrently (reconcileObjects): its methods lock.
type state struct {
	mu           sync.Mutex
	gen          int64
	namespaceUID types.UID // of the county's namespace, once applied
	conds        map[string]metav1.Condition
	endpoints    map[string]string
	rulesVersion string
	errs         []error
	after        time.Duration
	// workloadsCreated: this reconcile created every Deployment of the
	// county and they are starting (see firstStatusWaits).
	workloadsCreated bool
	// policiesApplied: every rendered NetworkPolicy was applied (see prune).
	policiesApplied bool
}

func newState(c *v1alpha1.County) *state {
	return &state{gen: c.Generation, conds: map[string]metav1.Condition{}}
}

func (s *state) set(typ string, status metav1.ConditionStatus, reason, msg string) {
	if len(msg) > 1024 {
		msg = msg[:1021] + "..."
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conds[typ] = metav1.Condition{Type: typ, Status: status, Reason: reason, Message: msg, ObservedGeneration: s.gen}
}

func (s *state) err(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs = append(s.errs, err)
}

// workloadsStarting records that this reconcile created every Deployment
// of the county and they are starting (firstStatusWaits).
func (s *state) workloadsStarting() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.workloadsCreated = true
}

// policiesInPlace records that every rendered NetworkPolicy was applied
// (prune).
func (s *state) policiesInPlace() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.policiesApplied = true
}

// requeue asks to look again after d at the latest (the shortest wins).
func (s *state) requeue(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.after == 0 || d < s.after {
		s.after = d
	}
}

// summary is the Ready condition: True when every concern is True; else
// False with the reason and message of the first concern (in the order of
// concerns) that is not True; Unknown (Reconciling) while some concern was
// not evaluated and none failed.
func (s *state) summary() metav1.Condition {
	missing := ""
	for _, typ := range concerns {
		c, ok := s.conds[typ]
		if !ok {
			if missing == "" {
				missing = typ
			}
			continue
		}
		if c.Status != metav1.ConditionTrue {
			return metav1.Condition{Type: CondReady, Status: metav1.ConditionFalse, Reason: c.Reason,
				Message: typ + ": " + c.Message, ObservedGeneration: s.gen}
		}
	}
	if missing != "" {
		return metav1.Condition{Type: CondReady, Status: metav1.ConditionUnknown, Reason: ReasonReconciling,
			Message: missing + " was not evaluated", ObservedGeneration: s.gen}
	}
	return metav1.Condition{Type: CondReady, Status: metav1.ConditionTrue, Reason: ReasonReady,
		Message: "the county's instance is provisioned and its workloads are available", ObservedGeneration: s.gen}
}

// apply writes the state into status (conditions not evaluated this time
// keep their last value).
func (s *state) applyTo(st *v1alpha1.CountyStatus, ready *metav1.Condition) {
	st.ObservedGeneration = s.gen
	for _, typ := range concerns {
		if c, ok := s.conds[typ]; ok {
			meta.SetStatusCondition(&st.Conditions, c)
		}
	}
	if ready != nil {
		meta.SetStatusCondition(&st.Conditions, *ready)
	}
	if s.endpoints != nil {
		st.Endpoints = s.endpoints
	}
	if s.rulesVersion != "" {
		st.RulesVersion = s.rulesVersion
	}
}

// patchStatus writes the status subresource by a merge patch guarded by the
// resourceVersion; on a conflict it re-reads the County from the API server
// (the cache may lag) and tries again. Nothing is written when nothing
// changed, so a steady county costs no writes. A patch that changes the
// status records the Events of its transitions (events.go).
func (r *CountyReconciler) patchStatus(ctx context.Context, c *v1alpha1.County, mutate func(*v1alpha1.CountyStatus)) error {
	cur := c
	first := true
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if !first {
			fresh := &v1alpha1.County{}
			if err := r.APIReader.Get(ctx, types.NamespacedName{Name: c.Name}, fresh); err != nil {
				return err
			}
			if fresh.UID != c.UID {
				return apierrors.NewNotFound(v1alpha1.GroupVersion.WithResource("counties").GroupResource(), c.Name)
			}
			cur = fresh
		}
		first = false
		next := cur.DeepCopy()
		mutate(&next.Status)
		if equality.Semantic.DeepEqual(cur.Status, next.Status) {
			return nil
		}
		err := r.Client.Status().Patch(ctx, next, client.MergeFromWithOptions(cur, client.MergeFromWithOptimisticLock{}))
		if err == nil {
			r.recordTransitions(next, &cur.Status, &next.Status)
			next.Status.DeepCopyInto(&c.Status)
		}
		return err
	})
}

// firstStatusWaits tells whether a County's first status can wait for the
// next reconcile: nothing was ever written, every concern is True but the
// workloads, which this reconcile created and which are starting, and
// nothing failed. That status would only say "Progressing", and the pods'
// start (their Deployments' status changes, coalesced) reconciles the
// County again a few seconds later, which writes what it finds. A County
// status write is the costliest write of a county (the API server decodes
// and validates the whole County), and when many Counties are created at
// once the second reconcile queues behind every other County's first: by
// then the pods are up, so one status write per County instead of two
// (docs/benchmarks.md §4, session 13). A failure, a missing Secret, topics
// not ready or an older status are written at once.
func (s *state) firstStatusWaits(c *v1alpha1.County) bool {
	if c.Status.ObservedGeneration != 0 || len(c.Status.Conditions) != 0 || !s.workloadsCreated || len(s.errs) != 0 {
		return false
	}
	for _, typ := range concerns {
		cond, ok := s.conds[typ]
		if !ok {
			return false
		}
		if typ == CondWorkloadsAvailable {
			if cond.Reason != ReasonProgressing {
				return false
			}
			continue
		}
		if cond.Status != metav1.ConditionTrue {
			return false
		}
	}
	return true
}

// writeStatus records a reconcile's outcome.
func (r *CountyReconciler) writeStatus(ctx context.Context, c *v1alpha1.County, s *state) error {
	ready := s.summary()
	err := r.patchStatus(ctx, c, func(st *v1alpha1.CountyStatus) { s.applyTo(st, &ready) })
	if apierrors.IsNotFound(err) {
		return nil // deleted meanwhile
	}
	if err != nil {
		return fmt.Errorf("patch status: %w", err)
	}
	return nil
}

// result turns the state's errors into the reconcile's error (the
// controller retries with backoff) or its requeue.
func (s *state) result() (time.Duration, error) {
	return s.after, errors.Join(s.errs...)
}

func setCondition(st *v1alpha1.CountyStatus, c metav1.Condition) {
	meta.SetStatusCondition(&st.Conditions, c)
}
