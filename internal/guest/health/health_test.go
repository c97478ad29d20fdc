package health

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// local runs scripts on this machine, as a guest would over SSH (sh -c), with the PATH sshd
// gives a guest's root: the system's python3, not a developer's shims.
type local struct{}

func (local) Run(ctx context.Context, script string, _ io.Reader) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "sh", "-c", script)
	cmd.Env = append(os.Environ(), "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	out, err := cmd.Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return out, fmt.Errorf("%w: %s", err, ee.Stderr)
	}
	return out, err
}

// statfs is what df reports as size and available, for comparing with the script's.
func statfs(t *testing.T, dir string) Space {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return Space{Path: dir, Size: int64(st.Blocks) * st.Frsize, Available: int64(st.Bavail) * st.Frsize}
}

// TestReadDataStores runs the read script on this machine against a folder and a backup status
// file of the contract's form, and compares its figures with statfs(2).
func TestReadDataStores(t *testing.T) {
	dir := t.TempDir()
	backupFile = filepath.Join(dir, "last.json")
	t.Cleanup(func() { backupFile = BackupStatusFile })
	ctx := context.Background()

	got, err := ReadDataStores(ctx, local{}, dir)
	if err != nil {
		t.Fatal(err)
	}
	want := statfs(t, dir)
	// Another process may write to the file system between the two reads: the size must be the
	// same, the free space close (within 64 MiB).
	if got.NFS == nil || got.NFS.Size != want.Size || math.Abs(float64(got.NFS.Available-want.Available)) > 64<<20 {
		t.Errorf("NFS volume: got %+v (%s), statfs says %+v", got.NFS, got.NFSError, want)
	}
	if got.Postgres != nil {
		if pw := statfs(t, got.Postgres.Path); got.Postgres.Size != pw.Size {
			t.Errorf("Postgres data directory: got %+v, statfs says %+v", got.Postgres, pw)
		}
	} else if !strings.Contains(got.PostgresError, "pg_lsclusters") {
		t.Errorf("no Postgres space and no reason: %q", got.PostgresError)
	}
	if got.Backup.Present || got.BackupError != "" {
		t.Errorf("no status file: got %+v %q, want a backup that never ran", got.Backup, got.BackupError)
	}

	// A missing folder is a problem of its own, not a failed read.
	if got, err := ReadDataStores(ctx, local{}, filepath.Join(dir, "missing")); err != nil || got.NFS != nil || !strings.Contains(got.NFSError, "No such file") {
		t.Errorf("missing export: %+v %v", got, err)
	}

	for _, c := range []struct {
		name, content string
		want          Backup
		wantErr       string
	}{
		{"succeeded", `{"started":"2026-11-30T02:00:00Z","finished":"2026-11-30T02:03:10Z","ok":true,"error":"","name":"hipchatdc-20261130T020000Z","bytes":123456,"destination":"backup.example.com:/srv/backups"}`,
			Backup{Present: true, Started: time.Date(2026, 11, 30, 2, 0, 0, 0, time.UTC), Finished: time.Date(2026, 11, 30, 2, 3, 10, 0, time.UTC), OK: true,
				Name: "hipchatdc-20261130T020000Z", Bytes: 123456, Destination: "backup.example.com:/srv/backups"}, ""},
		{"failed", `{"started":"2026-11-30T02:00:00Z","finished":"2026-11-30T02:00:01Z","ok":false,"error":"destination /mnt/backup: No space left on device","name":"hipchatdc-20261130T020000Z","bytes":0,"destination":"/mnt/backup"}`,
			Backup{Present: true, Started: time.Date(2026, 11, 30, 2, 0, 0, 0, time.UTC), Finished: time.Date(2026, 11, 30, 2, 0, 1, 0, time.UTC),
				Error: "destination /mnt/backup: No space left on device", Name: "hipchatdc-20261130T020000Z", Destination: "/mnt/backup"}, ""},
		{"corrupt", `{"started":`, Backup{Present: true}, "is not the backup program's status"},
	} {
		if err := os.WriteFile(backupFile, []byte(c.content), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := ReadDataStores(ctx, local{}, dir)
		if err != nil {
			t.Fatal(err)
		}
		if got.Backup != c.want || !strings.Contains(got.BackupError, c.wantErr) || (c.wantErr == "") != (got.BackupError == "") {
			t.Errorf("%s: got %+v %q, want %+v %q", c.name, got.Backup, got.BackupError, c.want, c.wantErr)
		}
	}
}

// sntpServer answers SNTP requests on addr:123 with this machine's clock plus skew.
func sntpServer(t *testing.T, addr string, skew time.Duration) {
	t.Helper()
	conn, err := net.ListenPacket("udp", net.JoinHostPort(addr, "123"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	stamp := func(b []byte, tm time.Time) {
		binary.BigEndian.PutUint64(b, uint64(tm.Unix()+2208988800)<<32|uint64(tm.Nanosecond())<<32/uint64(time.Second))
	}
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			recv := time.Now().Add(skew)
			if n < 48 {
				continue
			}
			r := make([]byte, 48)
			r[0], r[1] = 4<<3|4, 2
			copy(r[24:32], buf[40:48])
			stamp(r[32:40], recv)
			stamp(r[40:48], time.Now().Add(skew))
			_, _ = conn.WriteTo(r, from)
		}
	}()
}

// TestMeasureClock runs the guest's SNTP client (python3, as on a guest) on this machine
// against a server 5 s ahead of this clock, and one address where nothing answers.
func TestMeasureClock(t *testing.T) {
	// Loopback addresses of their own (all of 127/8 is local), so that no other test or lab
	// on this machine shares port 123 with this one.
	base := fmt.Sprintf("127.213.%d.", os.Getpid()%250+1)
	sntpServer(t, base+"1", 5*time.Second)
	servers := []string{base + "2", base + "1"}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	samples, err := MeasureClock(ctx, local{}, servers)
	if err != nil {
		t.Fatal(err)
	}
	if len(samples) != 2 || samples[0].Err == "" || samples[1].Err != "" {
		t.Fatalf("samples %+v: want the first server to fail and the second to answer", samples)
	}
	best, ok := Best(samples)
	// This clock is 5 s behind the server: its offset is -5 s, known to within half the round trip.
	if !ok || best.Server != base+"1" || math.Abs((best.Offset+5*time.Second).Seconds()) > best.Delay.Seconds()/2+1e-3 {
		t.Errorf("best sample %+v, want %s with an offset of -5s", best, base+"1")
	}
	if f := Failures(samples); !strings.HasPrefix(f, base+"2: ") {
		t.Errorf("failures %q do not name the silent server", f)
	}
}

func TestParseClock(t *testing.T) {
	got, err := ParseClock("ok a.example.com 0.012500 0.004000\nfail b.example.com [Errno -2] Name or service not known\n", []string{"a.example.com", "b.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Offset != 12500*time.Microsecond || got[0].Delay != 4*time.Millisecond || got[1].Err != "[Errno -2] Name or service not known" {
		t.Errorf("parsed %+v", got)
	}
	if _, err := ParseClock("ok a.example.com 0.1 0.1\n", []string{"a.example.com", "c.example.com"}); err == nil {
		t.Error("a server without a result was not refused")
	}
}

// TestMeasureClockAcrossTheNTPEra: a server whose clock is past 7 February 2036, when NTP's
// 32-bit seconds wrap (era 1), sends small seconds; the offset is still the clocks' difference,
// not 136 years off (RFC 5905's signed 32-bit difference from this clock).
func TestMeasureClockAcrossTheNTPEra(t *testing.T) {
	base := fmt.Sprintf("127.214.%d.", os.Getpid()%250+1)
	era1 := time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(1<<32) * time.Second)
	if era1.Format(time.RFC3339) != "2036-02-07T06:28:16Z" {
		t.Fatalf("era 1 begins at %s", era1)
	}
	skew := time.Until(era1.Add(30 * 24 * time.Hour)).Round(time.Second)
	sntpServer(t, base+"1", skew)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	samples, err := MeasureClock(ctx, local{}, []string{base + "1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(samples) != 1 || samples[0].Err != "" || math.Abs((samples[0].Offset+skew).Seconds()) > samples[0].Delay.Seconds()/2+1e-3 {
		t.Errorf("samples %+v: want an offset of %s (this clock behind a server in NTP era 1)", samples, -skew)
	}
}
