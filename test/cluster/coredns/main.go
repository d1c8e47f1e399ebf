// CoreDNS for the test cluster (scripts/cluster/up.mjs), built from the pinned
// github.com/coredns/coredns module. Upstream's coredns.go imports every plugin
// (core/plugin, incl. the AWS/Azure/GCP ones and their SDKs); this imports only
// the plugins of the kubeadm default Corefile, the supported way to trim a
// build (plugin.cfg). Test-only: nothing here ships in the product.
package main

import (
	_ "github.com/coredns/coredns/core/dnsserver"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
	"github.com/coredns/coredns/coremain"
)

func main() {
	coremain.Run()
}
