package hipchat

import (
	"context"
	"io"
	"io/fs"
	"strings"
	"testing"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest"
)

// fakeNode answers ReadScript with a configured node and the self-check with out and status.
type fakeNode struct {
	site   []byte
	out    string
	status int
}

func (f fakeNode) Run(_ context.Context, script string, _ io.Reader) ([]byte, error) {
	m := func(name string) string { return guest.SectionMarker(recipe, name) + "\n" }
	return []byte(m("config") + "absent\n" + m("site") + "present 600 root:root\n" + string(f.site) + "\n" + m("unverified") + "no\n" + m("end")), nil
}

func (f fakeNode) RunChange(context.Context, string, io.Reader) ([]byte, error) {
	if f.status != 0 {
		return []byte(f.out), &guest.CommandError{Host: "node", Description: "self-check", ExitStatus: f.status}
	}
	return []byte(f.out), nil
}

func (fakeNode) WriteFile(context.Context, string, []byte, fs.FileMode, string) error { return nil }

// A self-check that fails is a result, not an error, and a password the appliance echoes is
// removed from its output, as Apply removes it.
func TestSelfCheck(t *testing.T) {
	d := example()
	site, err := Render(d)
	if err != nil {
		t.Fatal(err)
	}
	res, err := SelfCheck(context.Background(), fakeNode{site: site, out: "postgres: OK\nredis: FAILED: WRONGPASS " + d.RedisPassword + "\nnfs: OK\n", status: 1}, Commands{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Passed || strings.Contains(res.Output, d.RedisPassword) || !strings.Contains(res.Output, "redis: FAILED: WRONGPASS (sensitive value)") {
		t.Errorf("self-check result %+v: want failed, password removed", res)
	}
	res, err = SelfCheck(context.Background(), fakeNode{site: site, out: "postgres: OK\nredis: OK\nnfs: OK\n"}, Commands{})
	if err != nil || !res.Passed || res.Output != "postgres: OK\nredis: OK\nnfs: OK" {
		t.Errorf("passing self-check: %+v %v", res, err)
	}
}
