// Command manager runs the Xinfang operator: it reconciles County resources
// into isolated county instances (see internal/controller).
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"xinfang.io/operator/api/v1alpha1"
	"xinfang.io/operator/internal/controller"
	"xinfang.io/operator/internal/render"
)

// version is stamped at build time (-ldflags "-X main.version=v0.1.0"); it is
// also the default image tag of the services, so an operator release runs
// the services built with it.
var version = "dev"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "xinfang-operator:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		metricsAddr, probeAddr  string
		pprofAddr               string
		apiQPS                  float64
		apiBurst                int
		leaderElect             bool
		leaderElectionNamespace string
		maxReconciles           int
		maxRollouts             int
		opts                    render.Options
		topics                  controller.TopicOptions
		operatorNamespace       string
		showVersion             bool
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8080", "address of the Prometheus /metrics endpoint (0 disables it)")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	flag.Float64Var(&apiQPS, "kube-api-qps", -1, "the operator's own limit on requests per second to the API server; -1 leaves it to the server's priority and fairness")
	flag.IntVar(&apiBurst, "kube-api-burst", 0, "burst above --kube-api-qps (default twice it)")
	flag.StringVar(&pprofAddr, "pprof-bind-address", "", "address of the Go profiler (/debug/pprof/), off when empty; keep it on loopback or behind a port-forward")
	flag.BoolVar(&leaderElect, "leader-elect", false, "elect a leader among operator replicas (one reconciles, the others wait)")
	flag.StringVar(&leaderElectionNamespace, "leader-election-namespace", "", "namespace of the leader election Lease (default: the operator's own namespace)")
	flag.IntVar(&maxReconciles, "max-concurrent-reconciles", 16, "counties reconciled at the same time (a reconcile mostly waits on the API server)")
	flag.IntVar(&maxRollouts, "max-concurrent-rollouts", 5, "counties whose workloads may roll out an operator-caused change (an upgrade) at the same time; 0 is unlimited")
	flag.StringVar(&opts.DefaultImageRepository, "image-repository", "xinfang", "repository of the services' images when a County names none (images are <repository>/<service>:<tag>)")
	flag.StringVar(&opts.DefaultImageTag, "image-tag", version, "tag of the services' images when a County names none (the operator's version unless set)")
	flag.StringVar(&opts.IngressNamespace, "ingress-namespace", "ingress-nginx", "namespace whose pods may reach intake's public port (empty: none)")
	flag.StringVar(&opts.MonitoringNamespace, "monitoring-namespace", "monitoring", "namespace whose pods may scrape the services' metrics (empty: none)")
	flag.StringVar(&opts.OTLPEndpoint, "otlp-endpoint", "", "OTLP endpoint given to the services as OTEL_EXPORTER_OTLP_ENDPOINT (empty: no export)")
	flag.StringVar(&opts.AuthJWKS, "jwks-url", "", "URL of the staff-token key set (JWKS) the services verify tokens with")
	flag.IntVar(&topics.Partitions, "topic-partitions", 6, "partitions of a new county topic")
	flag.IntVar(&topics.ReplicationFactor, "topic-replication-factor", -1, "replication factor of a new county topic (-1: the brokers' default)")
	flag.StringVar(&topics.StrimziNamespace, "strimzi-namespace", "kafka", "namespace of the KafkaTopic objects for counties on a Strimzi cluster (the namespace the topic operator watches)")
	flag.DurationVar(&topics.Resync, "topic-resync", 10*time.Minute, "how often existing topics are checked again through the Kafka admin API")
	flag.StringVar(&operatorNamespace, "operator-namespace", os.Getenv("POD_NAMESPACE"), "namespace of the Secrets named by spec.kafka.secretRef (default: $POD_NAMESPACE)")
	flag.BoolVar(&showVersion, "version", false, "print the version and exit")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	if showVersion {
		fmt.Println(version)
		return nil
	}
	opts.StrimziNamespace = topics.StrimziNamespace
	if topics.Partitions < 1 {
		return fmt.Errorf("--topic-partitions must be at least 1")
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))

	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(v1alpha1.AddToScheme(scheme))

	restConfig := ctrl.GetConfigOrDie()
	if apiQPS != 0 {
		restConfig.QPS = float32(apiQPS)
		restConfig.Burst = apiBurst
		if apiQPS > 0 && apiBurst <= 0 {
			restConfig.Burst = int(2 * apiQPS)
		}
	}
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme:                        scheme,
		Metrics:                       metricsserver.Options{BindAddress: metricsAddr},
		HealthProbeBindAddress:        probeAddr,
		PprofBindAddress:              pprofAddr,
		LeaderElection:                leaderElect,
		LeaderElectionID:              "xinfang-operator.xinfang.io",
		LeaderElectionNamespace:       leaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
		Cache:                         controller.CacheOptions(),
		Client:                        controller.ClientOptions(),
	})
	if err != nil {
		return fmt.Errorf("manager: %w", err)
	}
	r := &controller.CountyReconciler{
		Client:                  mgr.GetClient(),
		APIReader:               mgr.GetAPIReader(),
		Scheme:                  mgr.GetScheme(),
		RESTMapper:              mgr.GetRESTMapper(),
		Recorder:                mgr.GetEventRecorder("xinfang-operator"),
		Options:                 opts,
		Topics:                  topics,
		OperatorNamespace:       operatorNamespace,
		MaxConcurrentReconciles: maxReconciles,
		MaxConcurrentRollouts:   maxRollouts,
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("set up the county controller: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	ctrl.Log.WithName("setup").Info("starting", "version", version, "maxConcurrentReconciles", maxReconciles, "maxConcurrentRollouts", maxRollouts)
	return mgr.Start(ctrl.SetupSignalHandler())
}
