package lab

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestNodeReleases: a node VM says on its page which release its OVA is, holds a long poll open
// for the seconds asked and a held request until its release file exists, and a broken
// release's self-check fails, as upgrade and replacement tests need.
func TestNodeReleases(t *testing.T) {
	l, _ := startLabNoFatal(t, false)
	if l == nil {
		t.FailNow()
	}
	defer l.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	plain, err := l.StartGuestVM(ctx, "node-plain", KindNode)
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.StartNodeVM(ctx, "node-b", "B", false)
	if err != nil {
		t.Fatal(err)
	}
	broken, err := l.StartNodeVM(ctx, "node-broken", "C", true)
	if err != nil {
		t.Fatal(err)
	}

	get := func(g *Guest, path string) string {
		t.Helper()
		resp, err := (&http.Client{Timeout: time.Minute}).Get("http://" + g.Address() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s from %s: %d %q %v", path, g.VMName, resp.StatusCode, body, err)
		}
		return string(body)
	}
	for g, want := range map[*Guest]string{plain: "release: unknown", b: "release: B", broken: "release: C"} {
		if page := get(g, "/"); !strings.Contains(page, want) || !strings.Contains(page, "node: hipchat") {
			t.Errorf("%s's page: %q, want %q", g.VMName, page, want)
		}
	}

	// The long-poll service starts with the guest, a moment after nginx: wait for it to answer
	// a poll of no length, then time one of two seconds.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := http.Get("http://" + b.Address() + "/longpoll?seconds=0")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/longpoll does not answer: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	start := time.Now()
	poll := get(b, "/longpoll?seconds=2")
	if took := time.Since(start); took < 2*time.Second {
		t.Errorf("a 2 s long poll answered after %v", took)
	}
	if !strings.Contains(poll, "node: hipchat") || !strings.Contains(poll, "release: B") || !strings.Contains(poll, "long poll: 2s") {
		t.Errorf("long poll: %q", poll)
	}

	// A held request answers 200 at once, names its node, and ends only once the test creates
	// its release file: "released" can only be written after that.
	resp, err := (&http.Client{Timeout: 5 * time.Minute}).Get("http://" + b.Address() + "/hold?release=t1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// X-Accel-Buffering: no lets a reverse proxy's NGINX pass the answer on as it comes.
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Hipchat-Node") != "hipchat" || resp.Header.Get("X-Accel-Buffering") != "no" {
		t.Fatalf("/hold: %s, headers %v; want 200, X-Hipchat-Node hipchat and X-Accel-Buffering no", resp.Status, resp.Header)
	}
	first := make([]byte, len("<p>node: hipchat</p><p>release: B</p>\n"))
	if _, err := io.ReadFull(resp.Body, first); err != nil || string(first) != "<p>node: hipchat</p><p>release: B</p>\n" {
		t.Fatalf("/hold's first line: %q %v", first, err)
	}
	if _, err := b.Exec(ctx, "install -d /run/hipchatdc-lab-hold && touch /run/hipchatdc-lab-hold/t1"); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(resp.Body)
	if err != nil || !strings.HasSuffix(string(rest), "released\n") || strings.Trim(strings.TrimSuffix(string(rest), "released\n"), ".\n") != "" {
		t.Errorf("/hold after its release: %q %v; want \".\" lines, then released", rest, err)
	}
	// Its bound: without a release file, ?seconds=0 gives up at once and says so.
	if got := get(b, "/hold?release=never&seconds=0"); !strings.HasSuffix(got, "not released after 0s\n") {
		t.Errorf("/hold?seconds=0: %q", got)
	}

	// The broken release fails its self-check with its own line; the others do not have it.
	out, err := broken.Exec(ctx, "hipchat datacenter selfcheck")
	if err == nil || !strings.Contains(string(out), "release: FAILED") {
		t.Errorf("broken release's self-check: %q %v, want release: FAILED and a failure", out, err)
	}
	if out, _ := b.Exec(ctx, "hipchat datacenter selfcheck"); strings.Contains(string(out), "release: FAILED") {
		t.Errorf("release B's self-check: %q", out)
	}
}
