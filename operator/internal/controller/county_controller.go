// Package controller reconciles County resources into isolated county
// instances: the namespace xinfang-<county> with the objects internal/render
// produces, the county's Kafka topics and its intake key Secret. One file per
// concern: namespace.go, config.go, quota.go, networkpolicy.go, secrets.go,
// database.go, workloads.go, topics.go (+ strimzi.go, kafka.go), prune.go,
// finalizer.go, status.go, metrics.go, coalesce.go (how owned-object events
// reach the queue); this file wires them.
package controller

import (
	"context"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"xinfang.io/operator/api/v1alpha1"
	"xinfang.io/operator/internal/render"
)

// RBAC of the operator (config/rbac/role.yaml is generated from these by
// controller-gen; see the lead's `make manifests`).
//
// +kubebuilder:rbac:groups=xinfang.io,resources=counties,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=xinfang.io,resources=counties/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=xinfang.io,resources=counties/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=configmaps;serviceaccounts;services;persistentvolumeclaims;resourcequotas;limitranges,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;create;patch;delete
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=kafka.strimzi.io,resources=kafkatopics,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch;delete

// CountyReconciler provisions one county per County resource.
type CountyReconciler struct {
	Client client.Client
	// APIReader reads what the cache does not hold (Secrets, which the
	// operator never caches) and the latest County on a status conflict.
	APIReader  client.Reader
	Scheme     *runtime.Scheme
	RESTMapper meta.RESTMapper

	// Options shape every county's objects (images, namespaces, OTLP, JWKS).
	Options render.Options
	// Topics configures topic provisioning.
	Topics TopicOptions
	// OperatorNamespace holds the Secrets named by spec.kafka.secretRef.
	OperatorNamespace string
	// MaxConcurrentReconciles bounds how many counties are reconciled at
	// once (default 16: a reconcile mostly waits on the API server).
	MaxConcurrentReconciles int
	// Recorder records Events on Counties (events.go); nil records none.
	Recorder events.EventRecorder
	// MaxConcurrentRollouts bounds how many counties roll their workloads at
	// once when the operator itself changed them (an upgrade: new default
	// image or new pod template); 0 is unlimited. Spec edits are never held.
	MaxConcurrentRollouts int

	initOnce  sync.Once
	rollouts  *rolloutGate
	topicMemo sync.Map // County UID → topicRecord
	applied   sync.Map // county name → *appliedMemo
	// kafkaSecrets and kafkaCopies: county name → *kafkaSecretRecord,
	// *kafkaCopyRecord (credentials.go).
	kafkaSecrets, kafkaCopies sync.Map
	countyFiles               sync.Map // county name → countyFileRecord
	secrets                   sync.Map // county/what → seenRecord (secrets.go)
	metrics                   *countyMetrics
}

func (r *CountyReconciler) init() {
	r.initOnce.Do(func() {
		r.rollouts = newRolloutGate(r.MaxConcurrentRollouts)
		if r.metrics == nil {
			r.metrics = defaultMetrics
		}
		r.Topics.defaults()
		if r.Options.StrimziNamespace == "" {
			r.Options.StrimziNamespace = r.Topics.StrimziNamespace
		}
	})
}

// Reconcile brings one county's instance in line with its County.
func (r *CountyReconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, err error) {
	r.init()
	c := &v1alpha1.County{}
	if err := r.Client.Get(ctx, req.NamespacedName, c); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(req.Name) // gone: drop its rollout slot and metric series
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	start := time.Now()
	defer func() { r.metrics.observe(req.Name, time.Since(start), err) }()
	if !c.DeletionTimestamp.IsZero() {
		return r.finalize(ctx, c)
	}
	if c.Spec.Reconciliation == v1alpha1.ReconciliationPaused {
		return ctrl.Result{}, r.markPaused(ctx, c, "reconciliation is paused: the operator changes no object of this county until spec.reconciliation is Active")
	}
	if err := r.syncFinalizer(ctx, c); err != nil {
		return ctrl.Result{}, err
	}

	st := newState(c)
	r.reconcileObjects(ctx, c, st)
	if st.firstStatusWaits(c) {
		// The Deployments' creation and status events reconcile the County
		// again; the requeue makes sure of it.
		return ctrl.Result{RequeueAfter: ownedEventDelay}, nil
	}
	if err := r.writeStatus(ctx, c, st); err != nil {
		st.err(err)
	}
	after, err := st.result()
	if ctx.Err() != nil {
		return ctrl.Result{}, ctx.Err() // shutting down: nothing worth logging
	}
	if err != nil {
		log.FromContext(ctx).Error(err, "reconcile county", "county", c.Name)
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: after}, nil
}

// reconcileObjects applies every concern in dependency order; each records
// its condition in st.
func (r *CountyReconciler) reconcileObjects(ctx context.Context, c *v1alpha1.County, st *state) {
	if !r.reconcileNamespace(ctx, c, st) {
		return
	}
	in := render.Inputs{Kafka: r.reconcileKafkaCredentials(ctx, c, st), ConfigMap: r.countyFile(c)}
	objs, err := render.ObjectsWith(c, r.Options, in)
	if err != nil {
		st.set(CondConfigReady, metav1.ConditionFalse, ReasonRenderFailed, err.Error())
		st.err(err)
		return
	}
	rd := split(objs)
	// The concerns are independent once the namespace exists: they run at
	// once, so a new county costs a few round trips of latency rather than
	// 25 in a row (each concern applies its own objects concurrently too).
	together(
		func() { r.reconcileConfig(ctx, c, rd.configMap, st) },
		func() {
			quotaErr := r.reconcileQuota(ctx, c, rd.quota, st)
			r.reconcileNetworkPolicies(ctx, c, rd.policies, quotaErr, st)
		},
		func() { r.reconcileIntakeKeys(ctx, c, st) },
		func() { r.reconcileDatabase(ctx, c, rd.volumes, st) },
		func() { r.reconcileWorkloads(ctx, c, rd, st) },
		func() { r.reconcileTopics(ctx, c, st) },
	)
	if err := r.prune(ctx, c, rd.all, st.policiesApplied); err != nil {
		st.err(err)
	}
	st.endpoints = map[string]string{}
	for _, s := range render.Services {
		st.endpoints[s.Name] = render.Endpoint(c, s)
	}
}

// markPaused records that the county is paused; no owned object is read or
// written. Only the Ready condition changes: the other conditions keep what
// was last observed, with their own observedGeneration.
func (r *CountyReconciler) markPaused(ctx context.Context, c *v1alpha1.County, msg string) error {
	ready := metav1.Condition{Type: CondReady, Status: metav1.ConditionUnknown, Reason: ReasonPaused, Message: msg, ObservedGeneration: c.Generation}
	err := r.patchStatus(ctx, c, func(st *v1alpha1.CountyStatus) { meta.SetStatusCondition(&st.Conditions, ready) })
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// countyFileRecord is a county's ConfigMap as rendered for one generation.
type countyFileRecord struct {
	uid        types.UID
	generation int64
	cm         *corev1.ConfigMap
}

// countyFile returns the county's ConfigMap rendered for its generation, a
// copy of the one rendered before when the generation is the same (nil when
// it has to be rendered, or cannot be).
func (r *CountyReconciler) countyFile(c *v1alpha1.County) *corev1.ConfigMap {
	if v, ok := r.countyFiles.Load(c.Name); ok {
		if rec := v.(countyFileRecord); rec.uid == c.UID && rec.generation == c.Generation {
			return rec.cm.DeepCopy()
		}
	}
	cm, err := render.ConfigMap(c)
	if err != nil {
		return nil // ObjectsWith renders it again and reports why
	}
	r.countyFiles.Store(c.Name, countyFileRecord{uid: c.UID, generation: c.Generation, cm: cm.DeepCopy()})
	return cm
}

func (r *CountyReconciler) forget(county string) {
	r.rollouts.release(county)
	r.metrics.forget(county)
	r.applied.Delete(county)
	r.kafkaSecrets.Delete(county)
	r.kafkaCopies.Delete(county)
	r.countyFiles.Delete(county)
	r.unsee(county, seenIntakeKeys)
	r.unsee(county, seenDatabase)
}

// rendered sorts render.Objects by concern.
type rendered struct {
	all         []client.Object
	configMap   *corev1.ConfigMap
	quota       []client.Object
	policies    []*networkingv1.NetworkPolicy
	volumes     []*corev1.PersistentVolumeClaim
	accounts    []*corev1.ServiceAccount
	deployments []*appsv1.Deployment
	services    []*corev1.Service
	pdbs        []*policyv1.PodDisruptionBudget
}

func split(objs []client.Object) *rendered {
	rd := &rendered{all: objs}
	for _, o := range objs {
		switch o := o.(type) {
		case *corev1.Namespace:
		case *corev1.ConfigMap:
			rd.configMap = o
		case *corev1.ResourceQuota, *corev1.LimitRange:
			rd.quota = append(rd.quota, o)
		case *networkingv1.NetworkPolicy:
			rd.policies = append(rd.policies, o)
		case *corev1.PersistentVolumeClaim:
			rd.volumes = append(rd.volumes, o)
		case *corev1.ServiceAccount:
			rd.accounts = append(rd.accounts, o)
		case *appsv1.Deployment:
			rd.deployments = append(rd.deployments, o)
		case *corev1.Service:
			rd.services = append(rd.services, o)
		case *policyv1.PodDisruptionBudget:
			rd.pdbs = append(rd.pdbs, o)
		default:
			panic(fmt.Sprintf("render produced %T, which no concern of the controller applies", o))
		}
	}
	return rd
}

// CacheOptions keep the operator's memory proportional to its counties and
// small per county: the informers behind the watches hold only objects
// labelled as managed by the operator (Counties themselves are all cached),
// without their managedFields (the biggest part of an object written by
// server-side apply, and never read here), and without what no reconcile
// reads from the cache: the county file in a ConfigMap (its rules-version
// annotation is what counts), a Deployment's pod template (its generation
// and status are) and a quota's usage. Secrets are never cached; they are
// read through the API reader.
func CacheOptions() cache.Options {
	return cache.Options{
		DefaultLabelSelector: labels.SelectorFromSet(labels.Set{render.LabelManagedBy: render.ManagedBy}),
		DefaultTransform:     cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&v1alpha1.County{}:      {Label: labels.Everything()},
			&corev1.ConfigMap{}:     {Transform: stripConfigMapData},
			&appsv1.Deployment{}:    {Transform: stripPodTemplate},
			&corev1.ResourceQuota{}: {Transform: stripQuotaStatus},
		},
	}
}

func stripConfigMapData(o any) (any, error) {
	if cm, ok := o.(*corev1.ConfigMap); ok {
		cm.ManagedFields, cm.Data, cm.BinaryData = nil, nil, nil
	}
	return o, nil
}

// stripQuotaStatus drops a quota's usage, which the quota controller
// rewrites with every pod and no reconcile reads.
func stripQuotaStatus(o any) (any, error) {
	if q, ok := o.(*corev1.ResourceQuota); ok {
		q.ManagedFields, q.Status = nil, corev1.ResourceQuotaStatus{}
	}
	return o, nil
}

func stripPodTemplate(o any) (any, error) {
	if d, ok := o.(*appsv1.Deployment); ok {
		d.ManagedFields = nil
		d.Spec.Template.Spec = corev1.PodSpec{}
	}
	return o, nil
}

// ClientOptions make the manager's client read Secrets from the API server
// instead of starting a cluster-wide Secret informer.
func ClientOptions() client.Options {
	return client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}}
}

// SetupWithManager watches Counties and every kind the operator owns (a
// change or deletion of an owned object triggers a reconcile that reverts
// it). The namespace and PersistentVolumeClaims are not always owned (see
// apply.go), so they are mapped to their County by label.
func (r *CountyReconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.init()
	n := r.MaxConcurrentReconciles
	if n <= 0 {
		n = 16
	}
	byLabel := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		if name := o.GetLabels()[render.LabelCounty]; name != "" && o.GetLabels()[render.LabelManagedBy] == render.ManagedBy {
			return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: name}}}
		}
		return nil
	})
	changed := builder.WithPredicates(ownedObjectChanged{})
	// Owned objects map to their County (what Owns does), their creations
	// and status changes coalesced over ownedEventDelay (coalesce.go).
	owner := coalesce(handler.EnqueueRequestForOwner(mgr.GetScheme(), mgr.GetRESTMapper(), &v1alpha1.County{}, handler.OnlyControllerOwner()), ownedEventDelay)
	labelled := coalesce(byLabel, ownedEventDelay)
	b := ctrl.NewControllerManagedBy(mgr).
		Named("county").
		For(&v1alpha1.County{}, builder.WithPredicates(countySpecOrLifecycleChanged{}))
	for _, o := range []client.Object{&corev1.ConfigMap{}, &corev1.ResourceQuota{}, &corev1.LimitRange{}, &networkingv1.NetworkPolicy{},
		&corev1.ServiceAccount{}, &appsv1.Deployment{}, &corev1.Service{}, &policyv1.PodDisruptionBudget{}} {
		b = b.Watches(o, owner, changed)
	}
	return b.Watches(&corev1.Namespace{}, labelled, changed).
		Watches(&corev1.PersistentVolumeClaim{}, labelled, changed).
		WithOptions(controller.Options{MaxConcurrentReconciles: n}).
		Complete(r)
}

// countySpecOrLifecycleChanged drops the County updates the operator causes
// itself (status patches) and keeps spec edits, deletion and finalizer or
// annotation changes.
type countySpecOrLifecycleChanged struct{ predicate.Funcs }

func (countySpecOrLifecycleChanged) Create(event.CreateEvent) bool   { return true }
func (countySpecOrLifecycleChanged) Delete(event.DeleteEvent) bool   { return true }
func (countySpecOrLifecycleChanged) Generic(event.GenericEvent) bool { return true }
func (countySpecOrLifecycleChanged) Update(e event.UpdateEvent) bool {
	if e.ObjectOld == nil || e.ObjectNew == nil {
		return true
	}
	o, n := e.ObjectOld, e.ObjectNew
	return o.GetGeneration() != n.GetGeneration() ||
		!o.GetDeletionTimestamp().Equal(n.GetDeletionTimestamp()) ||
		fmt.Sprint(o.GetFinalizers()) != fmt.Sprint(n.GetFinalizers()) ||
		fmt.Sprint(o.GetAnnotations()) != fmt.Sprint(n.GetAnnotations())
}
