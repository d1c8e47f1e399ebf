// Ory Hydra for the OAuth2 tests (token endpoint, introspection, RFC 7523 jwt-bearer
// trust), built from the pinned github.com/ory/hydra/v2 module. Test-only: nothing here
// ships in the product. Needs the build tags in ./build-tags (sqlite, for DSN=memory).
package main

import (
	"github.com/ory/hydra/v2/cmd"
)

func main() {
	cmd.Execute()
}
