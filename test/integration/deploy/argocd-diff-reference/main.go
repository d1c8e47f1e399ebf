// argocd-diff-reference reads a JSON array of {desired, live} pairs on stdin
// and prints, for each, whether Argo CD's diff (github.com/argoproj/gitops-engine
// pkg/diff.Diff, the code Argo CD's application controller runs) reports the
// live object OutOfSync with the desired manifest, and which fields differ.
// test/integration/deploy/argocd-diff.test.ts feeds it our samples as applied
// to a real API server.
//
// Options are Argo CD's defaults: no server-side diff, no structured-merge
// diff (both opt-in), so Diff takes the classic path: a three-way JSON merge
// patch against kubectl's last-applied-configuration annotation when present,
// two-way otherwise. Each pair is diffed twice: with gitops-engine's default
// no-op normalizer, and with a normalizer that drops /status, as Argo CD's
// resource.compareoptions ignoreResourceStatusField does.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"sort"

	"github.com/argoproj/gitops-engine/pkg/diff"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

type pair struct {
	Desired json.RawMessage `json:"desired"`
	Live    json.RawMessage `json:"live"`
}

type verdict struct {
	Modified bool     `json:"modified"`
	Paths    []string `json:"paths"`
}

type result struct {
	// Default normalizer (none): status is compared like any other field.
	Raw verdict `json:"raw"`
	// Status ignored, as Argo CD's ignoreResourceStatusField does.
	IgnoreStatus verdict `json:"ignoreStatus"`
	Error        string  `json:"error,omitempty"`
}

type ignoreStatus struct{}

func (ignoreStatus) Normalize(u *unstructured.Unstructured) error {
	unstructured.RemoveNestedField(u.Object, "status")
	return nil
}

func decode(raw json.RawMessage) (*unstructured.Unstructured, error) {
	u := &unstructured.Unstructured{}
	return u, u.UnmarshalJSON(raw)
}

func run(desired, live *unstructured.Unstructured, opts ...diff.Option) (verdict, error) {
	opts = append([]diff.Option{diff.IgnoreAggregatedRoles(false)}, opts...)
	r, err := diff.Diff(desired.DeepCopy(), live.DeepCopy(), opts...)
	if err != nil {
		return verdict{}, err
	}
	var predicted, normalized any
	if err := json.Unmarshal(r.PredictedLive, &predicted); err != nil {
		return verdict{}, fmt.Errorf("predicted live: %w", err)
	}
	if err := json.Unmarshal(r.NormalizedLive, &normalized); err != nil {
		return verdict{}, fmt.Errorf("normalized live: %w", err)
	}
	paths := []string{}
	differences("", predicted, normalized, &paths)
	sort.Strings(paths)
	return verdict{Modified: r.Modified, Paths: paths}, nil
}

// differences lists the JSON paths where the live object Argo CD predicts
// after a sync differs from the live object it sees.
func differences(at string, a, b any, out *[]string) {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		keys := map[string]bool{}
		for k := range am {
			keys[k] = true
		}
		for k := range bm {
			keys[k] = true
		}
		for k := range keys {
			differences(at+"/"+k, am[k], bm[k], out)
		}
		return
	}
	al, aok := a.([]any)
	bl, bok := b.([]any)
	if aok && bok && len(al) == len(bl) {
		for i := range al {
			differences(fmt.Sprintf("%s/%d", at, i), al[i], bl[i], out)
		}
		return
	}
	if !reflect.DeepEqual(a, b) {
		*out = append(*out, at)
	}
}

func main() {
	var pairs []pair
	if err := json.NewDecoder(os.Stdin).Decode(&pairs); err != nil {
		fmt.Fprintf(os.Stderr, "reading pairs: %v\n", err)
		os.Exit(2)
	}
	out := make([]result, 0, len(pairs))
	for _, p := range pairs {
		out = append(out, compare(p))
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintf(os.Stderr, "writing results: %v\n", err)
		os.Exit(2)
	}
}

func compare(p pair) result {
	desired, err := decode(p.Desired)
	if err != nil {
		return result{Error: "desired: " + err.Error()}
	}
	live, err := decode(p.Live)
	if err != nil {
		return result{Error: "live: " + err.Error()}
	}
	raw, err := run(desired, live)
	if err != nil {
		return result{Error: err.Error()}
	}
	ignoring, err := run(desired, live, diff.WithNormalizer(ignoreStatus{}))
	if err != nil {
		return result{Error: err.Error()}
	}
	return result{Raw: raw, IgnoreStatus: ignoring}
}
