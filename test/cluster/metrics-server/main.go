// metrics-server for the test cluster (scripts/cluster/up.mjs): the resource metrics API
// (metrics.k8s.io) that the HorizontalPodAutoscaler controller in kube-controller-manager reads,
// built from the pinned sigs.k8s.io/metrics-server module: upstream's cmd/metrics-server/metrics-server.go.
// Test-only: nothing here ships in the product.
package main

import (
	"os"

	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/component-base/cli"

	"sigs.k8s.io/metrics-server/cmd/metrics-server/app"
)

func main() {
	cmd := app.NewMetricsServerCommand(genericapiserver.SetupSignalHandler())
	code := cli.Run(cmd)
	os.Exit(code)
}
