package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ProcStats is what the parent measures of one child process.
type ProcStats struct {
	Wall   time.Duration
	MaxRSS int64 // bytes, from wait4's rusage (ru_maxrss)
	// Written lists regular files the child had open for writing while it
	// ran (sampled from /proc/PID/fd every 20 ms) and files it left in its
	// private TMPDIR.
	Written []string
	Stdout  []byte
	Stderr  []byte
}

// Measure runs cmd to its end with a private, empty TMPDIR. When ctx is
// cancelled the child gets SIGINT (what Ctrl-C sends), so it can clean up,
// and SIGKILL only if it has not exited a minute later.
func Measure(ctx context.Context, tmpParent string, name string, args []string, env []string) (ProcStats, error) {
	var st ProcStats
	tmp, err := os.MkdirTemp(tmpParent, "child-tmp-")
	if err != nil {
		return st, err
	}
	defer os.RemoveAll(tmp)
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(append(os.Environ(), env...), "TMPDIR="+tmp)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = time.Minute

	start := time.Now()
	if err := cmd.Start(); err != nil {
		return st, err
	}
	written := map[string]bool{}
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			for _, f := range writableFiles(cmd.Process.Pid) {
				written[f] = true
			}
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	err = cmd.Wait()
	st.Wall = time.Since(start)
	close(done)
	<-sampled
	st.Stdout, st.Stderr = stdout.Bytes(), stderr.Bytes()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		st.MaxRSS = ru.Maxrss * 1024 // Linux reports KiB
	}
	left, _ := os.ReadDir(tmp)
	for _, e := range left {
		written[filepath.Join(tmp, e.Name())] = true
	}
	for f := range written {
		st.Written = append(st.Written, f)
	}
	sort.Strings(st.Written)
	if err != nil {
		return st, fmt.Errorf("%s %s: %w: %s", filepath.Base(name), strings.Join(args, " "), err, lastLines(st.Stderr, 5))
	}
	return st, nil
}

// writableFiles lists the regular files pid has open with O_WRONLY or O_RDWR.
func writableFiles(pid int) []string {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil || !strings.HasPrefix(target, "/") || strings.HasPrefix(target, "/dev/") || strings.HasPrefix(target, "/proc/") {
			continue
		}
		info, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%s", pid, e.Name()))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(info), "\n") {
			if v, ok := strings.CutPrefix(line, "flags:"); ok {
				flags, err := strconv.ParseInt(strings.TrimSpace(v), 8, 64)
				if err == nil && flags&syscall.O_ACCMODE != syscall.O_RDONLY {
					out = append(out, target)
				}
			}
		}
	}
	return out
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
