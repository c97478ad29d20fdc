package acctest

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/terraform-plugin-go/tfprotov6"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/lab"
)

// # Lab tests in parallel
//
// The lab's tests mostly wait (for guests to boot, for the terraform CLI, for SSH), so a lab
// test calls t.Parallel() as its first statement and runs beside the others of its binary, up
// to `go test -parallel` (the Makefile's TEST_PARALLEL) at a time. Go runs every test of a
// binary that does not call t.Parallel() first, one at a time, and only then the parallel
// ones: a test that is not parallel never runs beside another test. Such a test:
//
//   - changes what other tests see of the shared lab: lab.SetBootDelay for a kind of guest,
//     lab.AddDatastore (the datacenter loses its default datastore), rules added by hand to a
//     cluster that a parallel test expects empty, a datastore's free space, host CPU speeds,
//     the NFC bandwidth, fault injection, links cut;
//   - or sets the environment (t.Setenv, which panics in a parallel test);
//   - or counts what the whole process or the whole lab does: guest.Stats and ResetStats,
//     provider.RoundTrips, resources.Reads, acctest.Sessions (vCenter's sessions), the
//     datastore's files, lab.Guests().
//
// A parallel test counts its own provider's SSH work with CountSSH instead of guest.Stats, and
// gives a boot delay to its own VM (lab.SetVMBootDelay) instead of to a kind of guest.
// Everything a parallel test makes is its own: VM names, folder, content library and rule
// names that no other test uses (nor as a prefix, where VMCount counts by prefix), and static
// guest addresses (LabAddress) that no other test of the binary uses: LabAddress fails a
// second test that takes one of them. The provider's process-wide registries are keyed by
// address (the data stores' applies in internal/resources), so distinct addresses keep them
// apart as well. A test binary's tests share one lab, so its known_hosts, its vCenter sessions
// (per provider configuration) and its guests' bootstrap addresses (never reused) are shared
// safely.

// addressClaims records which test (top-level name) took a static address of a lab, so that
// two tests of one binary never set the same address on guests that may run at the same time.
var addressClaims = struct {
	sync.Mutex
	by map[addressKey]string
}{by: map[addressKey]string{}}

type addressKey struct {
	lab     *lab.Lab
	private bool
	n       int
}

// claimAddress fails t when another test of the binary took host number n of the lab network
// before: every test has its own static addresses (see "Lab tests in parallel" above).
func claimAddress(t testing.TB, l *lab.Lab, private bool, n int) {
	t.Helper()
	test, _, _ := strings.Cut(t.Name(), "/")
	k := addressKey{l, private, n}
	addressClaims.Lock()
	owner, taken := addressClaims.by[k]
	if !taken {
		addressClaims.by[k] = test
	}
	addressClaims.Unlock()
	if taken && owner != test {
		t.Fatalf("acctest: host number %d of the lab network is %s's static address already: tests run in parallel, so give %s host numbers of its own",
			n, owner, test)
	}
}

// CountSSH serves the provider of factories so that the SSH connections it opens and the
// commands it runs over them are counted in tally too: what guest.Stats counts for the whole
// process, for this test's provider alone, so that tests that count run in parallel with
// others.
func CountSSH(tally *guest.Tally, factories map[string]func() (tfprotov6.ProviderServer, error)) map[string]func() (tfprotov6.ProviderServer, error) {
	return WrapFactories(factories, func(s tfprotov6.ProviderServer) tfprotov6.ProviderServer {
		return &countingServer{ProviderServer: s, tally: tally}
	})
}

// WrapFactories serves the providers of factories through wrap: a test's way to watch or count
// the calls Terraform makes to its provider.
func WrapFactories(factories map[string]func() (tfprotov6.ProviderServer, error), wrap func(tfprotov6.ProviderServer) tfprotov6.ProviderServer) map[string]func() (tfprotov6.ProviderServer, error) {
	out := map[string]func() (tfprotov6.ProviderServer, error){}
	for name, f := range factories {
		out[name] = func() (tfprotov6.ProviderServer, error) {
			s, err := f()
			if err != nil {
				return nil, err
			}
			return wrap(s), nil
		}
	}
	return out
}

// countingServer passes the tally in the context of every call that may reach a guest.
type countingServer struct {
	tfprotov6.ProviderServer
	tally *guest.Tally
}

func (s *countingServer) ctx(ctx context.Context) context.Context {
	return guest.WithTally(ctx, s.tally)
}

func (s *countingServer) ConfigureProvider(ctx context.Context, req *tfprotov6.ConfigureProviderRequest) (*tfprotov6.ConfigureProviderResponse, error) {
	return s.ProviderServer.ConfigureProvider(s.ctx(ctx), req)
}

func (s *countingServer) ValidateResourceConfig(ctx context.Context, req *tfprotov6.ValidateResourceConfigRequest) (*tfprotov6.ValidateResourceConfigResponse, error) {
	return s.ProviderServer.ValidateResourceConfig(s.ctx(ctx), req)
}

func (s *countingServer) UpgradeResourceState(ctx context.Context, req *tfprotov6.UpgradeResourceStateRequest) (*tfprotov6.UpgradeResourceStateResponse, error) {
	return s.ProviderServer.UpgradeResourceState(s.ctx(ctx), req)
}

func (s *countingServer) ReadResource(ctx context.Context, req *tfprotov6.ReadResourceRequest) (*tfprotov6.ReadResourceResponse, error) {
	return s.ProviderServer.ReadResource(s.ctx(ctx), req)
}

func (s *countingServer) PlanResourceChange(ctx context.Context, req *tfprotov6.PlanResourceChangeRequest) (*tfprotov6.PlanResourceChangeResponse, error) {
	return s.ProviderServer.PlanResourceChange(s.ctx(ctx), req)
}

func (s *countingServer) ApplyResourceChange(ctx context.Context, req *tfprotov6.ApplyResourceChangeRequest) (*tfprotov6.ApplyResourceChangeResponse, error) {
	return s.ProviderServer.ApplyResourceChange(s.ctx(ctx), req)
}

func (s *countingServer) ImportResourceState(ctx context.Context, req *tfprotov6.ImportResourceStateRequest) (*tfprotov6.ImportResourceStateResponse, error) {
	return s.ProviderServer.ImportResourceState(s.ctx(ctx), req)
}

func (s *countingServer) MoveResourceState(ctx context.Context, req *tfprotov6.MoveResourceStateRequest) (*tfprotov6.MoveResourceStateResponse, error) {
	return s.ProviderServer.MoveResourceState(s.ctx(ctx), req)
}

func (s *countingServer) ValidateDataResourceConfig(ctx context.Context, req *tfprotov6.ValidateDataResourceConfigRequest) (*tfprotov6.ValidateDataResourceConfigResponse, error) {
	return s.ProviderServer.ValidateDataResourceConfig(s.ctx(ctx), req)
}

func (s *countingServer) ReadDataSource(ctx context.Context, req *tfprotov6.ReadDataSourceRequest) (*tfprotov6.ReadDataSourceResponse, error) {
	return s.ProviderServer.ReadDataSource(s.ctx(ctx), req)
}
