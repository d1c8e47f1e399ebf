// etcd for the test control plane, built from the pinned go.etcd.io/etcd
// server module. Test-only: nothing here ships in the product.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
