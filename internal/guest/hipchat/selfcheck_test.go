package hipchat

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/url"
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

// A self-check that prints the connection it tried, as a URL or as JSON, prints the password
// encoded: each encoding is removed too, so that no spelling of it reaches the data source or
// a diagnostic.
func TestSelfCheckRedactsEncodedPasswords(t *testing.T) {
	d := example() // `pg "pass" \ <&> word` and "r3dis pass'word"
	site, err := Render(d)
	if err != nil {
		t.Fatal(err)
	}
	pgJSON, err := json.Marshal(d.Password) // Go escapes <, > and & as \u003c ...
	if err != nil {
		t.Fatal(err)
	}
	// Each output is {before, the password as printed, after}.
	outputs := [][3]string{
		{"postgres: FAILED postgres://hipchat_user:", url.QueryEscape(d.Password), "@10.0.0.20:5432/hipchat_postgres"},
		{"postgres: FAILED postgres://hipchat_user:", strings.TrimPrefix(url.UserPassword("", d.Password).String(), ":"), "@10.0.0.20:5432/hipchat_postgres"},
		{"redis: FAILED redis://:", url.PathEscape(d.RedisPassword), "@10.0.0.20:6379/0"},
		{"redis: FAILED redis://:", strings.ToLower(url.PathEscape(d.RedisPassword)), "@10.0.0.20:6379/0"}, // lower-case hex, as some clients write it
		{`{"database-password": "`, strings.Trim(string(pgJSON), `"`), `"}`},
		{`{"database-password": "`, `pg \"pass\" \\ \u003c\u0026\u003e word`, `"}`}, // Python's json.dumps
		{`{"redis-password": "`, `r3dis pass\u0027word`, `"}`},
	}
	for _, o := range outputs {
		out := o[0] + o[1] + o[2]
		res, err := SelfCheck(context.Background(), fakeNode{site: site, out: out, status: 1}, Commands{})
		if err != nil {
			t.Fatal(err)
		}
		if want := o[0] + "(sensitive value)" + o[2]; res.Output != want {
			t.Errorf("self-check printed\n  %s\nits output in the result is\n  %s\nwant\n  %s", out, res.Output, want)
		}
	}
	// The node's diagnostics (StepError) use the same redaction.
	e := &StepError{Step: "self-check", Command: "check", Output: outputs[0][0] + outputs[0][1] + outputs[0][2], err: errors.New("exit status 1"), secrets: d.secrets()}
	if strings.Contains(e.Error(), outputs[0][1]) || !strings.Contains(e.Error(), "(sensitive value)") {
		t.Errorf("StepError: %s", e.Error())
	}
}
