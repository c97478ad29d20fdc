package vsphere

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-log/tflogtest"
)

// A fast transfer crosses many percent between two ticks of the reporter: every 5 % step must
// still get its line.
func TestProgressLogsEveryFivePercent(t *testing.T) {
	var out bytes.Buffer
	ctx := tflogtest.RootLogger(t.Context(), &out)
	p := startProgress(ctx, "uploading test", 1000)
	for i := 0; i < 100; i++ {
		p.add(10)
	}
	p.Finish()
	lines := strings.Count(out.String(), "uploading test progress")
	if lines != 20 {
		t.Fatalf("%d progress lines for 0..100 %%, want one per 5 %% step (20):\n%s", lines, out.String())
	}
}
