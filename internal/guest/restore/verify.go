package restore

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"
)

// The files of a backup (the contract of issue 14).
const (
	Dump    = "postgres.dump"
	Roles   = "postgres-roles.sql"
	RDB     = "redis.rdb"
	Archive = "nfs.tar.gz"
	Sums    = "SHA256SUMS"
)

// Required are the files a restore needs; config/ files are checked when listed, not needed.
var Required = []string{Dump, Roles, RDB, Archive}

// dumpMagic starts every pg_dump custom-format (and directory-format TOC) file.
var dumpMagic = []byte("PGDMP")

// Manifest is a verified backup: the files SHA256SUMS lists and their sums.
type Manifest struct {
	Where string
	Sums  map[string]string // relative path → hex SHA-256
	Bytes int64
	// SumsFile is SHA256SUMS as read, for the guest to check its copy with.
	SumsFile []byte
}

// Names are the listed files in order.
func (m Manifest) Names() []string {
	var n []string
	for k := range m.Sums {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// Error is a backup refused: File is the file at fault (relative to the backup directory,
// "" for the directory itself).
type Error struct {
	Where, File, Problem string
}

func (e *Error) Error() string {
	if e.File == "" {
		return fmt.Sprintf("backup %s: %s", e.Where, e.Problem)
	}
	return fmt.Sprintf("backup %s: %s: %s", e.Where, e.File, e.Problem)
}

// sumLine is one line of `sha256sum` output: text mode ("  ") or binary mode (" *").
var sumLine = regexp.MustCompile(`^([0-9a-f]{64}) [ *](.+)$`)

// ParseSums reads SHA256SUMS. Paths must be relative and stay inside the backup directory.
func ParseSums(data []byte) (map[string]string, error) {
	sums := map[string]string{}
	for i, line := range strings.Split(strings.TrimRight(string(data), "\n"), "\n") {
		m := sumLine.FindStringSubmatch(line)
		if m == nil {
			return nil, fmt.Errorf("line %d is not a sha256sum line (\"<64 hex digits>  <file>\"): %q", i+1, line)
		}
		name := strings.TrimPrefix(m[2], "./")
		if path.IsAbs(name) || path.Clean(name) != name || name == ".." || strings.HasPrefix(name, "../") {
			return nil, fmt.Errorf("line %d names %q, not a path inside the backup directory", i+1, m[2])
		}
		sums[name] = m[1]
	}
	return sums, nil
}

// Verify checks the backup src holds: it is complete (SHA256SUMS is there and lists the files
// a restore needs), every listed file is there with its checksum, the dump is a pg_dump
// custom-format archive and the NFS archive lists (gzip and tar read to the end, no entry
// outside the export). It reads every file once. A refused backup is an *Error naming the file.
func Verify(ctx context.Context, src Source) (Manifest, error) {
	m, err := ReadManifest(ctx, src)
	if err != nil {
		return m, err
	}
	fail := func(file, format string, a ...any) (Manifest, error) {
		return m, &Error{Where: src.Where(), File: file, Problem: fmt.Sprintf(format, a...)}
	}
	for _, name := range m.Names() {
		f, err := src.Open(ctx, name)
		if errors.Is(err, fs.ErrNotExist) {
			return fail(name, "missing: SHA256SUMS lists it but it is not in the backup directory")
		}
		if err != nil {
			return m, err
		}
		n, sum, problem, err := check(f, name)
		f.Close()
		m.Bytes += n
		if err != nil {
			return m, fmt.Errorf("%s: read %s: %w", src.Where(), name, err)
		}
		if sum != m.Sums[name] {
			return fail(name, "checksum mismatch: its SHA-256 is %s, SHA256SUMS says %s (the file changed or was damaged after the backup)", sum, m.Sums[name])
		}
		if problem != "" {
			return fail(name, "%s", problem)
		}
	}
	return m, nil
}

// ReadManifest checks the backup directory is there and complete: SHA256SUMS is there and
// lists the files a restore needs. It reads no other file.
func ReadManifest(ctx context.Context, src Source) (Manifest, error) {
	m := Manifest{Where: src.Where()}
	fail := func(file, format string, a ...any) (Manifest, error) {
		return m, &Error{Where: src.Where(), File: file, Problem: fmt.Sprintf(format, a...)}
	}
	ok, err := src.DirExists(ctx)
	if err != nil {
		return m, err
	}
	if !ok {
		return fail("", "the backup directory does not exist")
	}
	f, err := src.Open(ctx, Sums)
	if errors.Is(err, fs.ErrNotExist) {
		return fail(Sums, "missing: the backup is incomplete (a backup writes SHA256SUMS last; a directory without it was cut off and is never restored from); choose another backup")
	}
	if err != nil {
		return m, err
	}
	data, err := io.ReadAll(io.LimitReader(f, 1<<20))
	f.Close()
	if err != nil {
		return m, err
	}
	if m.Sums, err = ParseSums(data); err != nil {
		return fail(Sums, "%v", err)
	}
	m.SumsFile = data
	for _, r := range Required {
		if _, ok := m.Sums[r]; !ok {
			return fail(r, "not listed in SHA256SUMS: the backup has no %s, which a restore needs", r)
		}
	}
	return m, nil
}

// check reads one file to its end and returns its size and SHA-256, and for the dump and the
// archive what is wrong with their content ("" when nothing).
func check(r io.Reader, name string) (n int64, sum, problem string, err error) {
	h := sha256.New()
	cr := &countReader{r: io.TeeReader(r, h)}
	switch name {
	case Dump:
		head := make([]byte, len(dumpMagic)+6)
		k, _ := io.ReadFull(cr, head)
		// PGDMP, version (3 bytes), int size, offset size, format: 1 is custom (pg_dump -Fc).
		if k < len(head) || !bytes.Equal(head[:len(dumpMagic)], dumpMagic) {
			problem = "not a pg_dump archive (it does not start with PGDMP): pg_restore cannot list it; make the dump with pg_dump --format=custom"
		} else if head[len(dumpMagic)+5] != 1 {
			problem = fmt.Sprintf("a pg_dump archive in format %d, not the custom format (pg_dump --format=custom)", head[len(dumpMagic)+5])
		}
	case Archive:
		problem = listArchive(cr)
	}
	if _, err := io.Copy(io.Discard, cr); err != nil {
		return cr.n, "", "", err
	}
	return cr.n, hex.EncodeToString(h.Sum(nil)), problem, nil
}

// listArchive reads a tar.gz to its end as `tar -tzf` does, and refuses entries that would
// land outside the export directory.
func listArchive(r io.Reader) string {
	zr, err := gzip.NewReader(bufio.NewReader(r))
	if err != nil {
		return "tar cannot list it: not a gzip file (" + err.Error() + "); make it with tar -czf"
	}
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "tar cannot list it: " + err.Error()
		}
		name := strings.TrimPrefix(hdr.Name, "./")
		if name != "" && (path.IsAbs(hdr.Name) || name == ".." || strings.HasPrefix(path.Clean(name), "../")) {
			return fmt.Sprintf("entry %q is not a relative path inside the share (make the archive with tar -C <export> -czf ... .)", hdr.Name)
		}
		// A link whose target leaves the share would let a later entry, or a node following
		// it, write or read outside the export directory (tar follows an extracted symlink).
		if (hdr.Typeflag == tar.TypeSymlink || hdr.Typeflag == tar.TypeLink) && !insideLink(hdr.Linkname) {
			return fmt.Sprintf("entry %q is a link to %q, an absolute path or one with \"..\": a restore only makes links that stay inside the share; remove the link from the share and make the backup again", hdr.Name, hdr.Linkname)
		}
		if _, err := io.Copy(io.Discard, tr); err != nil {
			return "tar cannot list it: " + err.Error()
		}
	}
	return ""
}

// insideLink says whether a link target is relative and has no ".." component.
func insideLink(target string) bool {
	if target == "" || path.IsAbs(target) {
		return false
	}
	for _, part := range strings.Split(target, "/") {
		if part == ".." {
			return false
		}
	}
	return true
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.n += int64(k)
	return k, err
}
