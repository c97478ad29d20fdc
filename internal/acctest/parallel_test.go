package acctest

import (
	"fmt"
	"testing"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/lab"
)

// claimer is a test named name whose Fatalf is recorded instead of ending it.
type claimer struct {
	testing.TB
	name, failed string
}

func (c *claimer) Name() string { return c.name }
func (c *claimer) Helper()      {}
func (c *claimer) Fatalf(format string, args ...any) {
	c.failed = fmt.Sprintf(format, args...)
}

// TestStaticAddressesAreATestsOwn: a test may take its static address again, in any of its
// subtests too; another test taking it fails, naming both; another lab's, or the private
// network's, same host number is another address.
func TestStaticAddressesAreATestsOwn(t *testing.T) {
	l, other := &lab.Lab{}, &lab.Lab{}
	for _, c := range []struct {
		test    string
		l       *lab.Lab
		private bool
		fails   bool
	}{
		{"TestA", l, false, false},
		{"TestA", l, false, false},
		{"TestA/subtest", l, false, false},
		{"TestB", l, true, false},
		{"TestB", other, false, false},
		{"TestB", l, false, true},
		{"TestB/subtest", l, false, true},
	} {
		tb := &claimer{TB: t, name: c.test}
		claimAddress(tb, c.l, c.private, 203)
		if got := tb.failed != ""; got != c.fails {
			t.Errorf("%s claiming host 203 (private %v, other lab %v): failed %v (%q), want %v", c.test, c.private, c.l == other, got, tb.failed, c.fails)
		}
		if c.fails && tb.failed != "acctest: host number 203 of the lab network is TestA's static address already: tests run in parallel, so give TestB host numbers of its own" {
			t.Errorf("message: %q", tb.failed)
		}
	}
}
