// Command controller runs the cert-manager controllers that self-signed and CA Issuers
// and their Certificates need, without cert-manager's webhook, leader election, or
// metrics and health servers: one process per control plane, as the mnp lab and e2e
// tests run it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"k8s.io/klog/v2"

	controllerpkg "github.com/cert-manager/cert-manager/pkg/controller"
	crapprover "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/approver"
	crca "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/ca"
	crselfsigned "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/selfsigned"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/issuing"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/keymanager"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/readiness"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/requestmanager"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/revisionmanager"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/trigger"
	"github.com/cert-manager/cert-manager/pkg/controller/clusterissuers"
	"github.com/cert-manager/cert-manager/pkg/controller/issuers"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"         // registers the CA issuer's setup
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned" // registers the self-signed issuer's setup
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	utilfeature "github.com/cert-manager/cert-manager/pkg/util/feature"

	"mnp/hack/cert-manager/internal/cmversion"
)

// The controllers run, by their registered names: issuer readiness, the approver and
// the self-signed and CA signers of CertificateRequests, and the Certificate pipeline.
var controllerNames = []string{
	issuers.ControllerName,
	clusterissuers.ControllerName,
	crapprover.ControllerName,
	crselfsigned.CRControllerName,
	crca.CRControllerName,
	trigger.ControllerName,
	keymanager.ControllerName,
	requestmanager.ControllerName,
	issuing.ControllerName,
	readiness.ControllerName,
	revisionmanager.ControllerName,
}

type options struct {
	kubeconfig               string
	clusterResourceNamespace string
	leaderElect              bool
	featureGates             string
	workers                  int
	printVersion             bool
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("controller", flag.ContinueOnError)
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig of the API server (default: in-cluster or $KUBECONFIG)")
	fs.StringVar(&o.clusterResourceNamespace, "cluster-resource-namespace", "kube-system",
		"namespace of the Secrets that ClusterIssuers refer to")
	fs.BoolVar(&o.leaderElect, "leader-elect", false, "only false is supported: this controller never elects a leader")
	fs.StringVar(&o.featureGates, "feature-gates", "", "cert-manager feature gates, e.g. Name=true,Other=false")
	fs.IntVar(&o.workers, "workers", 5, "workers per controller")
	fs.BoolVar(&o.printVersion, "version", false, "print the linked cert-manager version and exit")
	klog.InitFlags(fs)
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if o.leaderElect {
		return o, errors.New("--leader-elect=true is not supported; run a single controller")
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
		fmt.Fprintf(os.Stderr, "controller: %v\n", err)
		os.Exit(2)
	}
	if o.printVersion {
		fmt.Printf("cert-manager-controller %s\n", cmversion.Linked())
		return
	}
	cmversion.Stamp()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx = logf.NewContext(ctx, logf.Log, "controller")
	if err := run(ctx, o); err != nil {
		klog.ErrorS(err, "controller stopped")
		klog.Flush()
		os.Exit(1)
	}
	klog.Flush()
}

// run builds the named controllers, starts the shared informers they registered, and
// runs them until ctx is cancelled.
func run(ctx context.Context, o options) error {
	factory, err := controllerpkg.NewContextFactory(ctx, contextOptions(o))
	if err != nil {
		return err
	}
	controllers := make(map[string]controllerpkg.Interface, len(controllerNames))
	for _, name := range controllerNames {
		construct, ok := controllerpkg.Known()[name]
		if !ok {
			return fmt.Errorf("controller %q is not registered by the linked cert-manager", name)
		}
		if controllers[name], err = construct(factory); err != nil {
			return fmt.Errorf("building controller %q: %w", name, err)
		}
	}
	// Every Context built from the factory shares these informer factories.
	shared, err := factory.Build()
	if err != nil {
		return err
	}
	shared.KubeSharedInformerFactory.Start(ctx.Done())
	shared.SharedInformerFactory.Start(ctx.Done())
	shared.HTTP01ResourceMetadataInformersFactory.Start(ctx.Done())
	klog.InfoS("starting controllers", "version", cmversion.Linked(), "controllers", controllerNames)

	errs := make(chan error, len(controllers))
	var wg sync.WaitGroup
	for name, c := range controllers {
		wg.Go(func() {
			if err := c.Run(o.workers, ctx); err != nil {
				errs <- fmt.Errorf("controller %q: %w", name, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	return errors.Join(collect(errs)...)
}

func collect(errs <-chan error) []error {
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return all
}

// contextOptions are cert-manager's own defaults for the fields these controllers read.
func contextOptions(o options) controllerpkg.ContextOptions {
	return controllerpkg.ContextOptions{
		Kubeconfig:         o.kubeconfig,
		KubernetesAPIQPS:   20,
		KubernetesAPIBurst: 50,
		IssuerOptions: controllerpkg.IssuerOptions{
			ClusterResourceNamespace:        o.clusterResourceNamespace,
			ClusterIssuerAmbientCredentials: true,
		},
		CertificateOptions: controllerpkg.CertificateOptions{
			CopiedAnnotationPrefixes: []string{
				"*", "-kubectl.kubernetes.io/", "-fluxcd.io/", "-argocd.argoproj.io/",
			},
			CertificateRequestMinimumBackoffDuration: time.Hour,
		},
	}
}
