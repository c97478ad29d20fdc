package hipchat

import (
	"reflect"
	"testing"
)

// TestPendingDownWithoutReason: a probe whose connect failed without a message (the shell
// killed by a signal prints nothing after "down NAME") is a service still down, not one that
// answers.
func TestPendingDownWithoutReason(t *testing.T) {
	d := DataStores{PostgresHost: "10.0.0.5", RedisHost: "10.0.0.5", NFSExport: "10.0.0.5:/var/atlassian/hipchat"}
	eps := d.Endpoints()
	got, err := pending("ok postgres\ndown redis\ndown nfs Connection refused\n", eps)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"redis at 10.0.0.5:6379: connection failed without a message",
		"nfs at 10.0.0.5:2049: Connection refused",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("pending = %q, want %q", got, want)
	}
	if got, err := pending("ok postgres\nok redis\nok nfs\n", eps); err != nil || len(got) != 0 {
		t.Errorf("all answering: pending = %q, %v", got, err)
	}
}
