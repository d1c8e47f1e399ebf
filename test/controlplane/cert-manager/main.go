// Command cert-manager runs the real cert-manager controller (the packages of
// github.com/cert-manager/cert-manager, pinned in go.mod) against the test
// control plane. cert-manager's own cmd/controller is a separate, unpublished
// Go module, so this is the few lines of wiring it does, reduced to what the
// tests need: Certificates, CertificateRequests for the SelfSigned and CA
// issuers, Issuers/ClusterIssuers. No leader election, no webhook, no ACME.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/sync/errgroup"
	logsapi "k8s.io/component-base/logs/api/v1"

	"github.com/cert-manager/cert-manager/pkg/controller"
	logf "github.com/cert-manager/cert-manager/pkg/logs"

	// Each import registers its controller (or issuer type) in init().
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/approver"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/ca"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/selfsigned"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/issuing"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/keymanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/readiness"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/requestmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/revisionmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/trigger"
	_ "github.com/cert-manager/cert-manager/pkg/controller/clusterissuers"
	_ "github.com/cert-manager/cert-manager/pkg/controller/issuers"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned"
)

type options struct {
	kubeconfig               string
	clusterResourceNamespace string
	namespace                string
	workers                  int
	minBackoff, maxBackoff   time.Duration
	logging                  *logsapi.LoggingConfiguration
}

func parseFlags() options {
	o := options{logging: logsapi.NewLoggingConfiguration()}
	fs := pflag.NewFlagSet("cert-manager", pflag.ExitOnError)
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "path to the kubeconfig of the API server (required)")
	fs.StringVar(&o.clusterResourceNamespace, "cluster-resource-namespace", "cert-manager", "namespace holding the Secrets that ClusterIssuers refer to")
	fs.StringVar(&o.namespace, "namespace", "", "watch only this namespace (empty: all namespaces)")
	fs.IntVar(&o.workers, "concurrent-workers", 5, "workers per controller")
	fs.DurationVar(&o.minBackoff, "certificate-request-minimum-backoff-duration", time.Hour, "first delay before re-issuing after a failed CertificateRequest")
	fs.DurationVar(&o.maxBackoff, "certificate-request-maximum-backoff-duration", 32*time.Hour, "longest delay before re-issuing after failed CertificateRequests")
	logf.AddFlagsNonDeprecated(o.logging, fs)
	_ = fs.Parse(os.Args[1:])
	return o
}

// enabled lists the controllers this binary runs; importing a package is not
// enough on its own, so that an accidental import cannot start extra loops.
var enabled = map[string]bool{
	"issuers":                               true,
	"clusterissuers":                        true,
	"certificaterequests-approver":          true,
	"certificaterequests-issuer-ca":         true,
	"certificaterequests-issuer-selfsigned": true,
	"certificates-issuing":                  true,
	"certificates-key-manager":              true,
	"certificates-request-manager":          true,
	"certificates-readiness":                true,
	"certificates-trigger":                  true,
	"certificates-revision-manager":         true,
}

func run(ctx context.Context, o options) error {
	if o.kubeconfig == "" {
		return fmt.Errorf("--kubeconfig is required")
	}
	log := logf.FromContext(ctx)
	factory, err := controller.NewContextFactory(ctx, controller.ContextOptions{
		Kubeconfig: o.kubeconfig,
		Namespace:  o.namespace,
		IssuerOptions: controller.IssuerOptions{
			ClusterResourceNamespace: o.clusterResourceNamespace,
		},
		CertificateOptions: controller.CertificateOptions{
			CertificateRequestMinimumBackoffDuration: o.minBackoff,
			CertificateRequestMaximumBackoffDuration: o.maxBackoff,
		},
	})
	if err != nil {
		return err
	}
	base, err := factory.Build()
	if err != nil {
		return err
	}

	g, ctx := errgroup.WithContext(ctx)
	started := 0
	for name, construct := range controller.Known() {
		if !enabled[name] {
			continue
		}
		if o.namespace != "" && name == "clusterissuers" {
			continue // ClusterIssuers need a cluster-wide view
		}
		ctl, err := construct(factory)
		if err != nil {
			return fmt.Errorf("building controller %s: %w", name, err)
		}
		started++
		log.Info("starting controller", "controller", name)
		g.Go(func() error { return ctl.Run(o.workers, ctx) })
	}
	if want := len(enabled); started < want && o.namespace == "" {
		return fmt.Errorf("only %d of %d controllers are registered; an import is missing", started, want)
	}

	// Informers are registered by the constructors above; start them after.
	base.SharedInformerFactory.Start(ctx.Done())
	base.KubeSharedInformerFactory.Start(ctx.Done())
	base.HTTP01ResourceMetadataInformersFactory.Start(ctx.Done())

	err = g.Wait()
	base.HTTP01ResourceMetadataInformersFactory.Shutdown()
	base.KubeSharedInformerFactory.Shutdown()
	base.SharedInformerFactory.Shutdown()
	return err
}

func main() {
	o := parseFlags()
	logf.InitLogs()
	if err := logf.ValidateAndApply(o.logging); err != nil {
		fmt.Fprintln(os.Stderr, "cert-manager: invalid logging flags:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx = logf.NewContext(ctx, logf.Log, "controller")

	err := run(ctx, o)
	logf.FlushLogs()
	if err != nil && ctx.Err() == nil {
		fmt.Fprintln(os.Stderr, "cert-manager:", err)
		os.Exit(1)
	}
}
