// containerd for the test cluster (scripts/cluster/up.mjs), built from the pinned
// github.com/containerd/containerd/v2 module: upstream's cmd/containerd/main.go. Test-only: nothing here ships in the product.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/containerd/containerd/v2/cmd/containerd/command"

	_ "github.com/containerd/containerd/v2/cmd/containerd/builtins"
)

func main() {
	ctx := context.Background()
	if err := command.App().Run(ctx, os.Args); err != nil {
		_, _ = fmt.Fprintln(os.Stderr, "containerd:", err)
		os.Exit(1)
	}
}
