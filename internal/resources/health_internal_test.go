package resources

import (
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/health"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/hipchat"
)

func TestDaysLeft(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		notAfter time.Time
		want     int64
	}{
		{now.Add(10*24*time.Hour + 12*time.Hour), 10},
		{now.Add(10 * 24 * time.Hour), 10},
		{now.Add(10*24*time.Hour - time.Second), 9},
		{now.Add(time.Hour), 0},        // the last day
		{now.Add(-time.Hour), -1},      // expired an hour ago
		{now.Add(-24 * time.Hour), -1}, // expired a day ago
		{now.Add(-25 * time.Hour), -2},
	} {
		if got := daysLeft(now, c.notAfter); got != c.want {
			t.Errorf("daysLeft(%v) = %d, want %d", c.notAfter.Sub(now), got, c.want)
		}
	}
}

// A VM that cannot be reached leaves its attributes null and says why in problems; what the
// other VMs gave is still recorded.
func TestHealthFill(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	off := -90 * time.Second
	node := nodeHealth{clockHealth: clockHealth{offset: &off}, selfCheck: &hipchat.SelfCheckResult{Passed: false, Output: "nfs: FAILED: No space left on device"}}
	data := dataStoresHealth{clockHealth: clockHealth{problems: []string{"the data stores VM (10.0.0.5): cannot connect over SSH: connection refused"}}}
	small := 3 * time.Millisecond
	proxy := clockHealth{offset: &small}
	cert := certHealth{notAfter: now.Add(10*24*time.Hour + time.Hour), fingerprint: "AA:BB"}
	var m healthModel
	var diags diag.Diagnostics
	m.fill(now, node, data, proxy, cert, &diags)
	if diags.HasError() {
		t.Fatal(diags)
	}
	if !m.NFSFreeBytes.IsNull() || !m.PostgresFreePercent.IsNull() || !m.LastBackupStatus.IsNull() || !m.LastBackupAge.IsNull() {
		t.Errorf("unread data stores: nfs %v postgres %v backup %v %v, want null", m.NFSFreeBytes, m.PostgresFreePercent, m.LastBackupStatus, m.LastBackupAge)
	}
	if len(m.Problems.Elements()) != 1 {
		t.Errorf("problems %v", m.Problems)
	}
	if !m.SelfCheckPassed.Equal(types.BoolValue(false)) || !m.CertificateDaysLeft.Equal(types.Int64Value(10)) {
		t.Errorf("self-check %v, days left %v", m.SelfCheckPassed, m.CertificateDaysLeft)
	}
	if !m.MaxClockOffset.Equal(types.Float64Value(90)) || len(m.ClockOffsets.Elements()) != 2 {
		t.Errorf("max_clock_offset %v, clock_offsets %v", m.MaxClockOffset, m.ClockOffsets)
	}

	// The backup's status from the status file: never, ok and failed, with its age.
	for _, c := range []struct {
		b    health.Backup
		want string
	}{
		{health.Backup{}, "never"},
		{health.Backup{Present: true, OK: true, Finished: now.Add(-2 * time.Hour)}, "ok"},
		{health.Backup{Present: true, Error: "destination full", Finished: now.Add(-2 * time.Hour)}, "failed"},
	} {
		data := dataStoresHealth{read: &health.DataStores{Backup: c.b}}
		m.fill(now, node, data, proxy, cert, &diags)
		if !m.LastBackupStatus.Equal(types.StringValue(c.want)) {
			t.Errorf("%+v: last_backup_status %v, want %s", c.b, m.LastBackupStatus, c.want)
		}
		if c.b.Present && !m.LastBackupAge.Equal(types.Int64Value(7200)) {
			t.Errorf("%+v: last_backup_age %v, want 7200", c.b, m.LastBackupAge)
		}
	}
}
