package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh/knownhosts"
)

// TestKnownHostsRewrittenAtTheSameTime: guests that get new addresses at the same time (tests
// running in parallel, a cluster's VMs booting together) each rewrite known_hosts; when they are
// done the file lists every address of every guest, and a reader in the meantime always finds a
// whole file that lists every address recorded before its read began.
func TestKnownHostsRewrittenAtTheSameTime(t *testing.T) {
	l := &Lab{knownHF: filepath.Join(t.TempDir(), "known_hosts")}
	const guests, rounds = 8, 50
	for i := range guests {
		hk, err := newKeyPair("")
		if err != nil {
			t.Fatal(err)
		}
		l.order = append(l.order, &Guest{VMName: fmt.Sprintf("vm-%d", i), hostKey: hk})
	}
	l.writeKnownHosts()

	var (
		mu       sync.Mutex
		recorded []string // every address whose rewrite has finished
	)
	stop := make(chan struct{})
	readerDone := make(chan error)
	go func() {
		for {
			select {
			case <-stop:
				readerDone <- nil
				return
			default:
			}
			mu.Lock()
			want := slices.Clone(recorded)
			mu.Unlock()
			data, err := os.ReadFile(l.knownHF)
			if err != nil {
				readerDone <- err
				return
			}
			for _, a := range want {
				if !strings.Contains(string(data), a+",") && !strings.Contains(string(data), a+" ") {
					readerDone <- fmt.Errorf("known_hosts lacks %s, recorded before this read:\n%s", a, data)
					return
				}
			}
		}
	}()
	for r := range rounds {
		var wg sync.WaitGroup
		for i, g := range l.order {
			wg.Add(1)
			go func() {
				defer wg.Done()
				a := fmt.Sprintf("10.213.%d.%d", r, i+10)
				// As report does: the address is seen, then the file rewritten.
				g.mu.Lock()
				g.seen = append(g.seen, a)
				g.mu.Unlock()
				l.writeKnownHosts()
				mu.Lock()
				recorded = append(recorded, a)
				mu.Unlock()
			}()
		}
		wg.Wait()
	}
	close(stop)
	if err := <-readerDone; err != nil {
		t.Fatal(err)
	}
	// x/crypto's parser, as the provider reads the file: every guest's key under every address.
	if _, err := knownhosts.New(l.knownHF); err != nil {
		t.Fatalf("known_hosts does not parse: %v", err)
	}
	data, err := os.ReadFile(l.knownHF)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range recorded {
		if !strings.Contains(string(data), a+",") && !strings.Contains(string(data), a+" ") {
			t.Errorf("known_hosts lacks %s after every rewrite finished", a)
		}
	}
}
