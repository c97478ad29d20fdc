package restore

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// writeBackup writes a backup in the contract's layout (the dump only has a custom-format
// header: Verify reads no further) and returns its directory.
func writeBackup(t *testing.T, files map[string][]byte) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "hipchatdc-20261130T120000Z")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	var names []string
	for name, data := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	sort.Strings(names)
	var sums strings.Builder
	for _, n := range names {
		s := sha256.Sum256(files[n])
		fmt.Fprintf(&sums, "%s  %s\n", hex.EncodeToString(s[:]), n)
	}
	if err := os.WriteFile(filepath.Join(dir, Sums), []byte(sums.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func tarGz(t *testing.T, names ...string) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	tw := tar.NewWriter(zw)
	for _, n := range names {
		if strings.HasSuffix(n, "/") {
			// tar -C dir -czf x . writes "./" first, as a directory.
			if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o755, Typeflag: tar.TypeDir}); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: 2, Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte("hi")); err != nil {
			t.Fatal(err)
		}
	}
	tw.Close()
	zw.Close()
	return b.Bytes()
}

// tarLink is a tar.gz of the share's "./" and one link entry name → target.
func tarLink(t *testing.T, typ byte, name, target string) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	tw := tar.NewWriter(zw)
	must(t, tw.WriteHeader(&tar.Header{Name: "./", Mode: 0o755, Typeflag: tar.TypeDir}))
	must(t, tw.WriteHeader(&tar.Header{Name: name, Linkname: target, Mode: 0o777, Typeflag: typ}))
	must(t, tw.Close())
	must(t, zw.Close())
	return b.Bytes()
}

// TestVerifyAcceptsLinksInsideTheShare: links that stay inside the share are data, kept.
func TestVerifyAcceptsLinksInsideTheShare(t *testing.T) {
	for _, c := range []struct {
		typ          byte
		name, target string
	}{{tar.TypeSymlink, "./uploads/latest", "a.txt"}, {tar.TypeSymlink, "./l", "uploads/a.txt"}, {tar.TypeLink, "./uploads/b.txt", "./uploads/a.txt"}} {
		files := goodFiles(t)
		files[Archive] = tarLink(t, c.typ, c.name, c.target)
		if _, err := Verify(context.Background(), Local(writeBackup(t, files))); err != nil {
			t.Errorf("%s -> %s: %v", c.name, c.target, err)
		}
	}
}

func goodFiles(t *testing.T) map[string][]byte {
	return map[string][]byte{
		Dump:                              append([]byte("PGDMP\x01\x0f\x00\x04\x08\x01"), bytes.Repeat([]byte{0}, 100)...),
		Roles:                             []byte("CREATE ROLE hipchat_user;\n"),
		RDB:                               []byte("REDIS0010..."),
		Archive:                           tarGz(t, "./", "./uploads/a.txt"),
		"config/datastore/etc/redis.conf": []byte("port 6379\n"),
	}
}

func TestVerifyAcceptsACompleteBackup(t *testing.T) {
	dir := writeBackup(t, goodFiles(t))
	m, err := Verify(context.Background(), Local(dir))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Sums) != 5 || m.Bytes == 0 {
		t.Errorf("manifest %+v", m)
	}
}

// TestVerifyRefuses: each damage is refused with an *Error naming the file at fault.
func TestVerifyRefuses(t *testing.T) {
	for _, c := range []struct {
		name, file, want string
		damage           func(t *testing.T, dir string)
	}{
		{"missing directory", "", "does not exist", func(t *testing.T, dir string) { os.RemoveAll(dir) }},
		{"incomplete", Sums, "incomplete", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, Sums)) }},
		{"missing file", RDB, "missing", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, RDB)) }},
		{"corrupt file", RDB, "checksum mismatch", func(t *testing.T, dir string) {
			must(t, os.WriteFile(filepath.Join(dir, RDB), []byte("REDIS0010.,."), 0o600))
		}},
		{"corrupt config file", "config/datastore/etc/redis.conf", "checksum mismatch", func(t *testing.T, dir string) {
			must(t, os.WriteFile(filepath.Join(dir, "config/datastore/etc/redis.conf"), []byte("port 1\n"), 0o600))
		}},
		{"unlisted dump", Dump, "not listed", func(t *testing.T, dir string) {
			b, _ := os.ReadFile(filepath.Join(dir, Sums))
			var keep []string
			for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				if !strings.HasSuffix(l, " "+Dump) {
					keep = append(keep, l)
				}
			}
			must(t, os.WriteFile(filepath.Join(dir, Sums), []byte(strings.Join(keep, "\n")+"\n"), 0o644))
		}},
		{"sums outside", Sums, "not a path inside", func(t *testing.T, dir string) {
			f, _ := os.OpenFile(filepath.Join(dir, Sums), os.O_APPEND|os.O_WRONLY, 0)
			fmt.Fprintf(f, "%s  ../../etc/passwd\n", strings.Repeat("0", 64))
			f.Close()
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := writeBackup(t, goodFiles(t))
			c.damage(t, dir)
			_, err := Verify(context.Background(), Local(dir))
			var re *Error
			if !errors.As(err, &re) || re.File != c.file || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an *Error on %q saying %q", err, c.file, c.want)
			}
		})
	}
}

// TestVerifyRefusesContent: a dump or archive whose checksum matches (made wrong, not
// damaged later) is still refused.
func TestVerifyRefusesContent(t *testing.T) {
	for _, c := range []struct {
		file, want string
		data       func(t *testing.T) []byte
	}{
		{Dump, "pg_restore cannot list it", func(*testing.T) []byte { return []byte("-- PostgreSQL database dump\n") }},
		{Dump, "not the custom format", func(*testing.T) []byte { return []byte("PGDMP\x01\x0f\x00\x04\x08\x03xxxx") }},
		{Archive, "tar cannot list it", func(*testing.T) []byte { return []byte("not gzip") }},
		{Archive, "tar cannot list it", func(t *testing.T) []byte { b := tarGz(t, "a", "b"); return b[:len(b)/2] }},
		{Archive, "not a relative path", func(t *testing.T) []byte { return tarGz(t, "../escape") }},
		{Archive, "not a relative path", func(t *testing.T) []byte { return tarGz(t, "/etc/cron.d/x") }},
		{Archive, `a link to "/etc/cron.d"`, func(t *testing.T) []byte { return tarLink(t, tar.TypeSymlink, "./cron", "/etc/cron.d") }},
		{Archive, `a link to "../../etc"`, func(t *testing.T) []byte { return tarLink(t, tar.TypeSymlink, "./uploads/up", "../../etc") }},
		{Archive, `a link to "a/../../x"`, func(t *testing.T) []byte { return tarLink(t, tar.TypeSymlink, "./l", "a/../../x") }},
		{Archive, `a link to "/etc/shadow"`, func(t *testing.T) []byte { return tarLink(t, tar.TypeLink, "./shadow", "/etc/shadow") }},
		{Archive, `a link to "../etc/shadow"`, func(t *testing.T) []byte { return tarLink(t, tar.TypeLink, "./shadow", "../etc/shadow") }},
	} {
		t.Run(c.file+" "+c.want, func(t *testing.T) {
			files := goodFiles(t)
			files[c.file] = c.data(t)
			_, err := Verify(context.Background(), Local(writeBackup(t, files)))
			var re *Error
			if !errors.As(err, &re) || re.File != c.file || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an *Error on %q saying %q", err, c.file, c.want)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
