// Command cainjector runs cert-manager's CA injector for Validating- and
// MutatingWebhookConfigurations only, without leader election or metrics and health
// servers: it fills each annotated webhook's caBundle from the Certificate or Secret
// that cert-manager.io/inject-ca-from (or inject-ca-from-secret) names.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	cmscheme "github.com/cert-manager/cert-manager/pkg/client/clientset/versioned/scheme"
	"github.com/cert-manager/cert-manager/pkg/controller/cainjector"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	utilfeature "github.com/cert-manager/cert-manager/pkg/util/feature"

	"mnp/hack/cert-manager/internal/cmversion"
)

type options struct {
	kubeconfig   string
	namespace    string
	leaderElect  bool
	featureGates string
	printVersion bool
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("cainjector", flag.ContinueOnError)
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig of the API server (default: $KUBECONFIG, then in-cluster)")
	fs.StringVar(&o.namespace, "namespace", "", "only read Certificates and Secrets in this namespace (default: all)")
	fs.BoolVar(&o.leaderElect, "leader-elect", false, "only false is supported: this injector never elects a leader")
	fs.StringVar(&o.featureGates, "feature-gates", "", "cert-manager feature gates, e.g. CAInjectorMerging=false")
	fs.BoolVar(&o.printVersion, "version", false, "print the linked cert-manager version and exit")
	klog.InitFlags(fs)
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if o.leaderElect {
		return o, errors.New("--leader-elect=true is not supported; run a single injector")
	}
	if o.featureGates != "" {
		if err := utilfeature.DefaultMutableFeatureGate.Set(o.featureGates); err != nil {
			return o, fmt.Errorf("--feature-gates: %w", err)
		}
	}
	return o, nil
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "cainjector: %v\n", err)
		os.Exit(2)
	}
	if o.printVersion {
		fmt.Printf("cert-manager-cainjector %s\n", cmversion.Linked())
		return
	}
	cmversion.Stamp()
	ctrl.SetLogger(logf.Log)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(logf.NewContext(ctx, logf.Log, "cainjector"), o); err != nil {
		klog.ErrorS(err, "cainjector stopped")
		klog.Flush()
		os.Exit(1)
	}
	klog.Flush()
}

func run(ctx context.Context, o options) error {
	// Explicit rules, so --kubeconfig wins over $KUBECONFIG, which wins over in-cluster.
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.kubeconfig
	config, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
	if err != nil {
		return fmt.Errorf("loading the kubeconfig: %w", err)
	}
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(cmscheme.AddToScheme(scheme))
	mgr, err := ctrl.NewManager(config, ctrl.Options{
		Scheme:                 scheme,
		LeaderElection:         false,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		return fmt.Errorf("creating the controller manager: %w", err)
	}
	err = cainjector.RegisterAllInjectors(ctx, mgr, cainjector.SetupOptions{
		Namespace:                    o.namespace,
		EnableCertificatesDataSource: true,
		EnabledReconcilersFor: map[string]bool{
			cainjector.ValidatingWebhookConfigurationName: true,
			cainjector.MutatingWebhookConfigurationName:   true,
		},
	})
	if err != nil {
		return fmt.Errorf("registering the injectors: %w", err)
	}
	klog.InfoS("starting cainjector", "version", cmversion.Linked())
	return mgr.Start(ctx)
}
