package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"xinfang.io/operator/api/v1alpha1"
)

// AnnotationTemplateHash, on a Deployment's own metadata (never on its pod
// template, so it restarts nothing), is the hash of the pod template the
// operator rendered. It tells an operator-caused change (an upgrade: same
// County generation, new template) from a spec edit, for the rollout gate.
const AnnotationTemplateHash = "xinfang.io/template-hash"

// reconcileWorkloads applies the ServiceAccounts, Services,
// PodDisruptionBudgets and Deployments of the four services and sets
// WorkloadsAvailable from the Deployments' real status, as the deployment
// controller reports it (the latest the cache holds once everything is
// applied).
//
// Gradual upgrades: when the operator itself changes a county's pod
// templates (new default image after an operator upgrade), the county must
// hold one of MaxConcurrentRollouts slots; it keeps it until its Deployments
// are available again. Counties without a slot keep their running template
// (RolloutQueued) and are looked at again later. A spec edit by the bureau
// (a new County generation) is applied at once.
func (r *CountyReconciler) reconcileWorkloads(ctx context.Context, c *v1alpha1.County, rd *rendered, st *state) {
	accounts := make([]client.Object, 0, len(rd.accounts))
	for _, o := range rd.accounts {
		accounts = append(accounts, o)
	}
	var rest []client.Object
	for _, o := range rd.services {
		rest = append(rest, o)
	}
	for _, o := range rd.pdbs {
		rest = append(rest, o)
	}
	// The ServiceAccounts before the Deployments: a pod naming a missing
	// account is refused, and the ReplicaSet controller backs off. The
	// Services and disruption budgets alongside the Deployments: no pod
	// waits for them, and a ClusterIP Service is the slowest object of a
	// county to create (the API server allocates cluster IPs one at a time,
	// cluster-wide), so the pods start while it is allocated.
	errs := r.applyAll(ctx, c, accounts, owned)
	operatorCaused := c.Status.ObservedGeneration == c.Generation
	deployments := make([]*appsv1.Deployment, len(rd.deployments))
	queuedAt := make([]bool, len(rd.deployments))
	createdAt := make([]bool, len(rd.deployments))
	derrs := make([]error, len(rd.deployments))
	fns := make([]func(), len(rd.deployments), len(rd.deployments)+1)
	for i, d := range rd.deployments {
		fns[i] = func() {
			deployments[i], queuedAt[i], createdAt[i], derrs[i] = r.applyDeployment(ctx, c, d, operatorCaused)
		}
	}
	var rerrs []error
	fns = append(fns, func() { rerrs = r.applyAll(ctx, c, rest, owned) })
	together(fns...)
	errs = append(append(errs, rerrs...), derrs...)
	r.latestStatus(ctx, deployments)
	var queued []string
	for i, q := range queuedAt {
		if q {
			queued = append(queued, rd.deployments[i].Name)
		}
	}
	if err := errors.Join(errs...); err != nil {
		st.err(err)
		st.set(CondWorkloadsAvailable, metav1.ConditionFalse, ReasonApplyFailed, err.Error())
		return
	}
	if len(queued) > 0 {
		st.set(CondWorkloadsAvailable, metav1.ConditionFalse, ReasonRolloutQueued,
			fmt.Sprintf("the operator's update of %s waits for a rollout slot (%d counties may roll out at once)", strings.Join(queued, ", "), r.MaxConcurrentRollouts))
		st.requeue(requeueWaiting)
		return
	}
	reason, ok := ReasonAvailable, true
	var waiting []string
	for _, d := range deployments {
		if d == nil {
			continue // not applied: its error is reported above
		}
		avail, why, msg := DeploymentAvailable(d)
		if avail {
			continue
		}
		ok = false
		if why == ReasonDeadlineExceeded || reason == ReasonAvailable {
			reason = why
		}
		waiting = append(waiting, d.Name+": "+msg)
	}
	if !ok {
		st.set(CondWorkloadsAvailable, metav1.ConditionFalse, reason, strings.Join(waiting, "; "))
		if !slices.Contains(createdAt, false) {
			st.workloadsStarting()
		}
		return
	}
	r.rollouts.release(c.Name)
	names := make([]string, 0, len(deployments))
	for _, d := range deployments {
		names = append(names, d.Name)
	}
	st.set(CondWorkloadsAvailable, metav1.ConditionTrue, ReasonAvailable,
		"deployments available with their current template: "+strings.Join(names, ", "))
}

// latestStatus replaces each applied Deployment with the cached one when
// the cache holds the same object at the same generation: its status is
// then at least as recent as the apply's answer. Deployments applied at
// the start of a reconcile are often available by its end (the pods start
// while the Services are still being created), and reporting that at once
// saves the County a second status write — the costliest write of a county
// (the API server re-validates the whole County spec on every status
// patch).
func (r *CountyReconciler) latestStatus(ctx context.Context, deployments []*appsv1.Deployment) {
	for i, d := range deployments {
		if d == nil {
			continue
		}
		cached := &appsv1.Deployment{}
		if err := r.Client.Get(ctx, client.ObjectKeyFromObject(d), cached); err != nil {
			continue // the apply's answer stands
		}
		if cached.UID == d.UID && cached.Generation == d.Generation {
			deployments[i] = cached
		}
	}
}

// applyDeployment applies one Deployment, unless the operator itself
// changed its pod template and the county holds no rollout slot: then it
// keeps the live one (queued). It returns the Deployment as it is now, and
// whether the cache held none before (created).
func (r *CountyReconciler) applyDeployment(ctx context.Context, c *v1alpha1.County, d *appsv1.Deployment, operatorCaused bool) (got *appsv1.Deployment, queued, created bool, err error) {
	want := templateHash(&d.Spec.Template)
	if d.Annotations == nil {
		d.Annotations = map[string]string{}
	}
	d.Annotations[AnnotationTemplateHash] = want
	live := &appsv1.Deployment{}
	err = r.Client.Get(ctx, client.ObjectKeyFromObject(d), live)
	if err == nil && operatorCaused && live.Annotations[AnnotationTemplateHash] != want && !r.rollouts.acquire(c.Name) {
		return live, true, false, nil
	}
	created = apierrors.IsNotFound(err)
	u, err := r.apply(ctx, c, d, owned)
	if err != nil {
		return nil, false, false, err
	}
	if got, ok := u.(*appsv1.Deployment); ok {
		return got, false, created, nil
	}
	uu, ok := u.(*unstructured.Unstructured)
	if !ok {
		return nil, false, false, fmt.Errorf("deployment %s: applied as %T", d.Name, u)
	}
	got = &appsv1.Deployment{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(uu.Object, got); err != nil {
		return nil, false, false, fmt.Errorf("decode deployment %s: %w", d.Name, err)
	}
	return got, false, created, nil
}

// DeploymentAvailable reads a Deployment's status as the deployment
// controller wrote it: available once the controller has observed the
// current generation, every replica runs the current template, enough are
// available and no old replica is left. The reason is Progressing while the
// rollout is under way and ProgressDeadlineExceeded when it is stuck.
func DeploymentAvailable(d *appsv1.Deployment) (bool, string, string) {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	s := d.Status
	for _, cond := range s.Conditions {
		if cond.Type == appsv1.DeploymentProgressing && cond.Status == corev1.ConditionFalse && cond.Reason == "ProgressDeadlineExceeded" {
			return false, ReasonDeadlineExceeded, "rollout exceeded its progress deadline: " + cond.Message
		}
	}
	switch {
	case s.ObservedGeneration < d.Generation:
		return false, ReasonProgressing, fmt.Sprintf("generation %d not yet observed by the deployment controller (observed %d)", d.Generation, s.ObservedGeneration)
	case s.UpdatedReplicas < want:
		return false, ReasonProgressing, fmt.Sprintf("%d of %d replicas updated", s.UpdatedReplicas, want)
	case s.Replicas > s.UpdatedReplicas:
		return false, ReasonProgressing, fmt.Sprintf("%d old replicas terminating", s.Replicas-s.UpdatedReplicas)
	case s.AvailableReplicas < want:
		return false, ReasonProgressing, fmt.Sprintf("%d of %d replicas available", s.AvailableReplicas, want)
	}
	return true, ReasonAvailable, fmt.Sprintf("%d replicas available", s.AvailableReplicas)
}

// templateHash is a content hash of a rendered pod template.
func templateHash(t *corev1.PodTemplateSpec) string {
	b, err := json.Marshal(t)
	if err != nil {
		panic(fmt.Sprintf("encode pod template: %v", err)) // a rendered struct always encodes
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:16]
}

// rolloutGate hands out at most max rollout slots, one per county.
type rolloutGate struct {
	mu     sync.Mutex
	max    int
	active map[string]bool
}

func newRolloutGate(max int) *rolloutGate {
	return &rolloutGate{max: max, active: map[string]bool{}}
}

func (g *rolloutGate) acquire(county string) bool {
	if g.max <= 0 {
		return true
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.active[county] {
		return true
	}
	if len(g.active) >= g.max {
		return false
	}
	g.active[county] = true
	return true
}

func (g *rolloutGate) release(county string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.active, county)
}

// holders lists the counties holding a slot (for tests and logs).
func (g *rolloutGate) holders() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]string, 0, len(g.active))
	for k := range g.active {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
