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
	Wall time.Duration
	// MaxRSS is the child's own peak resident set (VmHWM), in bytes. It is
	// not wait4's ru_maxrss: exec records the high-water mark of the memory
	// the child had before it (with os/exec's vfork, the parent's) into
	// ru_maxrss, so that figure is the harness's own peak whenever the
	// harness is bigger than the child. VmHWM is read from /proc every
	// 20 ms; growth in the child's last 20 ms would be missed.
	MaxRSS int64
	CPU    time.Duration // user + system time, from wait4's rusage
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
	exe, _ := filepath.EvalSymlinks(cmd.Path)
	exe, _ = filepath.Abs(exe) // /proc/PID/exe is absolute; BENCH_GOVC may not be
	var peak int64
	go func() {
		defer close(sampled)
		for {
			for _, f := range writableFiles(cmd.Process.Pid) {
				written[f] = true
			}
			peak = max(peak, peakRSS(cmd.Process.Pid, exe))
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
	st.MaxRSS = peak
	st.Stdout, st.Stderr = stdout.Bytes(), stderr.Bytes()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		st.CPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
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

// peakRSS is VmHWM of process pid in bytes, once it runs exe: before its
// exec the child still shares the harness's memory, whose figures are not
// the child's. 0 if unknown.
func peakRSS(pid int, exe string) int64 {
	if target, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err != nil || target != exe {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kib, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err == nil {
				return kib << 10
			}
		}
	}
	return 0
}

// procCPU is the user and system time process pid has used so far, from
// /proc/PID/stat (utime and stime, all threads, in clock ticks of 1/100 s:
// USER_HZ is 100 on every Linux architecture Go supports). 0s if unknown.
func procCPU(pid int) (user, sys time.Duration) {
	if pid <= 0 {
		return 0, 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0
	}
	// The command name, field 2, may hold spaces: count from the ')' after it.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, 0
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return 0, 0
	}
	const tick = 10 * time.Millisecond
	return time.Duration(utime) * tick, time.Duration(stime) * tick
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
