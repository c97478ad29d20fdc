package restore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest"
)

// Source is where a backup directory lies.
type Source interface {
	// Open opens the file name (relative to the backup directory); a file that is not there
	// is an error wrapping fs.ErrNotExist.
	Open(ctx context.Context, name string) (io.ReadCloser, error)
	// DirExists says whether the backup directory is there.
	DirExists(ctx context.Context) (bool, error)
	// Where names the backup directory in messages ("/srv/b/hipchatdc-…" or "host:/srv/…").
	Where() string
	Close() error
}

// Local is a backup directory on the machine running Terraform.
type Local string

func (l Local) Open(_ context.Context, name string) (io.ReadCloser, error) {
	return os.Open(filepath.Join(string(l), filepath.FromSlash(name)))
}

func (l Local) DirExists(context.Context) (bool, error) {
	fi, err := os.Stat(string(l))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !fi.IsDir() {
		return false, fmt.Errorf("%s is not a directory", l)
	}
	return true, nil
}

func (l Local) Where() string { return string(l) }
func (Local) Close() error    { return nil }

// Remote is a backup directory on a host reached over SSH.
type Remote struct {
	Conn *guest.Conn
	Dir  string
}

// Open streams the file with cat: a file of several GB never sits in memory.
func (r Remote) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	f := path.Join(r.Dir, name)
	// Absent is told apart before the stream starts, so that it is fs.ErrNotExist.
	out, err := r.Conn.Run(ctx, "test -f "+guest.Quote(f)+" && echo present || echo absent", nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.Conn.Host(), err)
	}
	if string(out) != "present\n" {
		return nil, fmt.Errorf("%s:%s: %w", r.Conn.Host(), f, fs.ErrNotExist)
	}
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(r.Conn.RunTo(ctx, "exec cat -- "+guest.Quote(f), pw))
	}()
	return pr, nil
}

func (r Remote) DirExists(ctx context.Context) (bool, error) {
	out, err := r.Conn.Run(ctx, "test -d "+guest.Quote(r.Dir)+" && echo present || echo absent", nil)
	if err != nil {
		return false, fmt.Errorf("%s: %w", r.Conn.Host(), err)
	}
	return string(out) == "present\n", nil
}

func (r Remote) Where() string { return r.Conn.Host() + ":" + r.Dir }
func (r Remote) Close() error  { return r.Conn.Close() }
