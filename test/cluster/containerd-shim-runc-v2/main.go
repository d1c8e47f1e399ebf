// containerd-shim-runc-v2 for the test cluster (scripts/cluster/up.mjs), built from the pinned
// github.com/containerd/containerd/v2 module: upstream's cmd/containerd-shim-runc-v2/main.go. Test-only: nothing here ships in the product.
package main

import (
	"context"

	"github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2/manager"
	_ "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2/task/plugin"
	"github.com/containerd/containerd/v2/pkg/shim"
)

func main() {
	shim.RunShim(context.Background(), manager.NewShimManager("io.containerd.runc.v2"))
}
