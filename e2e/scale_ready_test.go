package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"
)

// Following the Counties of the scale benchmark: a tracker on County and
// ConfigMap watches that records when each County turned Ready for its
// generation and which rules version each county runs.

// countyState is what the tracker knows of one county.
type countyState struct {
	name             string
	generation       int64
	ready            bool // Ready True for the current generation, status describes it
	rulesVersion     string
	configMapVersion string
}

// readyTracker follows every County and county ConfigMap through watches
// (listing thousands of Counties every second would load the API server
// more than the operator does).
type readyTracker struct {
	cluster *kubeCluster
	mu      sync.Mutex
	state   map[string]*countyState
	start   time.Time
	doneAt  map[string]time.Duration
	cond    func(*countyState) bool
	changed chan struct{}
	cancel  context.CancelFunc
}

func newReadyTracker(c *kubeCluster, names []string) *readyTracker {
	t := &readyTracker{cluster: c, state: map[string]*countyState{}, changed: make(chan struct{}, 1)}
	for _, n := range names {
		t.state[n] = &countyState{name: n}
	}
	return t
}

// begin starts timing from at: a county is done once it is Ready and meets
// cond.
func (t *readyTracker) begin(at time.Time, cond func(*countyState) bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.start = at
	t.doneAt = map[string]time.Duration{}
	t.cond = cond
}

func (t *readyTracker) run(ctx context.Context) error {
	ctx, t.cancel = context.WithCancel(ctx)
	counties := cache.NewSharedIndexInformer(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return t.cluster.dyn.Resource(countyGVR).List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return t.cluster.dyn.Resource(countyGVR).Watch(ctx, o)
		},
	}, &unstructured.Unstructured{}, 0, cache.Indexers{})
	_, _ = counties.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { t.county(o) },
		UpdateFunc: func(_, o any) { t.county(o) },
	})
	md, err := metadata.NewForConfig(t.cluster.config)
	if err != nil {
		return err
	}
	cmGVR := corev1.SchemeGroupVersion.WithResource("configmaps")
	opts := func(o *metav1.ListOptions) {
		o.LabelSelector = "app.kubernetes.io/managed-by=xinfang-operator"
		o.FieldSelector = "metadata.name=county"
	}
	configMaps := cache.NewSharedIndexInformer(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			opts(&o)
			return md.Resource(cmGVR).List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			opts(&o)
			return md.Resource(cmGVR).Watch(ctx, o)
		},
	}, &metav1.PartialObjectMetadata{}, 0, cache.Indexers{})
	_, _ = configMaps.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { t.configMap(o) },
		UpdateFunc: func(_, o any) { t.configMap(o) },
	})
	go counties.RunWithContext(ctx)
	go configMaps.RunWithContext(ctx)
	if !cache.WaitForCacheSync(ctx.Done(), counties.HasSynced, configMaps.HasSynced) {
		return errors.New("tracker: caches did not sync")
	}
	return nil
}

func (t *readyTracker) stop() { t.cancel() }

func (t *readyTracker) county(o any) {
	u, ok := o.(*unstructured.Unstructured)
	if !ok {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.state[u.GetName()]
	if s == nil {
		return
	}
	s.generation = u.GetGeneration()
	og, _, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
	s.ready = false
	if og == s.generation {
		for _, c := range conditionsOf(u) {
			if c.Type == "Ready" && c.Status == metav1.ConditionTrue && c.ObservedGeneration == s.generation {
				s.ready = true
			}
		}
	}
	s.rulesVersion, _, _ = unstructured.NestedString(u.Object, "status", "rulesVersion")
	t.check(s)
}

func (t *readyTracker) configMap(o any) {
	m, ok := o.(*metav1.PartialObjectMetadata)
	if !ok {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.state[strings.TrimPrefix(m.Namespace, "xinfang-")]
	if s == nil {
		return
	}
	s.configMapVersion = m.Annotations["xinfang.io/rules-version"]
	t.check(s)
}

// check records when s first met the current condition; t.mu is held.
func (t *readyTracker) check(s *countyState) {
	if t.cond == nil || t.doneAt == nil {
		return
	}
	if _, done := t.doneAt[s.name]; done || !s.ready || !t.cond(s) {
		return
	}
	t.doneAt[s.name] = time.Since(t.start)
	select {
	case t.changed <- struct{}{}:
	default:
	}
}

// waitAll waits until every county is done; it returns the seconds each
// took from the start.
func (t *readyTracker) waitAll(ctx context.Context, within time.Duration) ([]float64, error) {
	t.mu.Lock()
	for _, s := range t.state {
		t.check(s)
	}
	t.mu.Unlock()
	deadline := time.After(within)
	progress := time.NewTicker(15 * time.Second)
	defer progress.Stop()
	for {
		t.mu.Lock()
		done, total := len(t.doneAt), len(t.state)
		var times []float64
		if done == total {
			for _, d := range t.doneAt {
				times = append(times, d.Seconds())
			}
		}
		t.mu.Unlock()
		if done == total {
			return times, nil
		}
		select {
		case <-t.changed:
		case <-progress.C:
			fmt.Fprintf(os.Stderr, "scale: %d of %d counties done after %s\n", done, total, time.Since(t.start).Round(time.Second))
		case <-deadline:
			return nil, fmt.Errorf("%d of %d counties done within %s", done, total, within)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (t *readyTracker) rulesVersions() map[string]string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[string]string{}
	for n, s := range t.state {
		out[n] = s.rulesVersion
	}
	return out
}

func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[int(p*float64(len(s)-1))]
}
