// ctr for the test cluster (scripts/cluster/up.mjs), built from the pinned
// github.com/containerd/containerd/v2 module: upstream's cmd/ctr/main.go. Test-only: nothing here ships in the product.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/containerd/containerd/v2/cmd/ctr/app"
)

func main() {
	ctx := context.Background()
	if err := app.New().Run(ctx, os.Args); err != nil {
		_, _ = fmt.Fprintln(os.Stderr, "ctr:", err)
		os.Exit(1)
	}
}
