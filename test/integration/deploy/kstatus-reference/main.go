// kstatus-reference reads a JSON array of Kubernetes objects on stdin and prints,
// for each, the status that sigs.k8s.io/cli-utils/pkg/kstatus computes (the
// library Flux, kpt and Config Sync use). test/integration/deploy/kstatus-reference.test.ts
// compares it with the TypeScript reimplementation in test/unit/deploy/kstatus.ts.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

type result struct {
	Status  string `json:"status"`
	Message string `json:"message"`
	Error   string `json:"error,omitempty"`
}

func main() {
	// Raw messages, so that each object goes through Unstructured's own JSON
	// decoding (integers stay int64, as they do when read from the API server).
	var objs []json.RawMessage
	if err := json.NewDecoder(os.Stdin).Decode(&objs); err != nil {
		fmt.Fprintf(os.Stderr, "reading objects: %v\n", err)
		os.Exit(2)
	}
	out := make([]result, 0, len(objs))
	for _, raw := range objs {
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(raw); err != nil {
			out = append(out, result{Error: err.Error()})
			continue
		}
		r, err := status.Compute(u)
		if err != nil {
			out = append(out, result{Error: err.Error()})
			continue
		}
		out = append(out, result{Status: r.Status.String(), Message: r.Message})
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintf(os.Stderr, "writing results: %v\n", err)
		os.Exit(2)
	}
}
