package bench

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"
)

// Main runs one subcommand of hipchatdc-bench and returns the exit code:
//
//	run          the whole benchmark (env BENCH_SIZES, BENCH_RUNS, BENCH_GOVC,
//	             BENCH_RESULTS, BENCH_URL_CHECK, BENCH_SERVER_ARGS)
//	serve-vcsim  the simulator; prints its Endpoint as one JSON line
//	import       the provider's import, once (endpoint from the environment)
//	put          the plain PUT, once
//	enterprise   N Hipchat nodes at once, each importing or from one library item
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: hipchatdc-bench run|serve-vcsim|import|put [flags]")
		return 2
	}
	// SIGINT and SIGTERM cancel the context: every subcommand cleans up
	// (aborts the lease, removes the VM and temp files) before it exits.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch args[0] {
	case "run":
		err = mainRun(ctx, stdout)
	case "serve-vcsim":
		err = mainServe(ctx, args[1:], stdout)
	case "import", "put":
		err = mainImport(ctx, args[0], args[1:], stdout)
	case "enterprise":
		err = mainEnterprise(ctx, args[1:], stdout)
	default:
		err = fmt.Errorf("unknown subcommand %q", args[0])
	}
	if err != nil {
		fmt.Fprintf(stderr, "hipchatdc-bench %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

func mainServe(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("serve-vcsim", flag.ContinueOnError)
	var opts ServerOptions
	fs.StringVar(&opts.Dir, "dir", os.TempDir(), "folder for the CA file")
	fs.Int64Var(&opts.DiskFullAfter, "disk-full-after", 0, "datastore size in bytes: uploads fail with ENOSPC after this many bytes of one disk")
	fs.Int64Var(&opts.Throttle, "throttle", 0, "limit each NFC upload to this many bytes/s")
	if err := fs.Parse(args); err != nil {
		return err
	}
	srv, err := StartServer(opts)
	if err != nil {
		return err
	}
	defer srv.Close()
	if err := json.NewEncoder(stdout).Encode(srv.Endpoint); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

func mainImport(ctx context.Context, what string, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet(what, flag.ContinueOnError)
	source := fs.String("source", "", "OVA path or URL (import)")
	ova := fs.String("ova", "", "OVA path (put)")
	name := fs.String("name", "", "VM name")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ep, err := EndpointFromEnv()
	if err != nil {
		return err
	}
	var rep ImportReport
	if what == "import" {
		rep, err = ProviderImport(ctx, ep, *source, *name)
	} else {
		rep, err = PlainPut(ctx, ep, *ova, *name)
	}
	if jerr := json.NewEncoder(stdout).Encode(rep); jerr != nil && err == nil {
		err = jerr
	}
	return err
}

func mainRun(ctx context.Context, stdout io.Writer) error {
	sizes, err := ParseSizes(envOr("BENCH_SIZES", "256M,1G,4G"))
	if err != nil {
		return err
	}
	runs, err := strconv.Atoi(envOr("BENCH_RUNS", "5"))
	if err != nil || runs < 1 {
		return fmt.Errorf("BENCH_RUNS=%q: want a positive number", os.Getenv("BENCH_RUNS"))
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cfg := Config{Sizes: sizes, Runs: runs, Self: self, Govc: os.Getenv("BENCH_GOVC"),
		URLCheck: envOr("BENCH_URL_CHECK", "1") == "1", Out: stdout}
	if a := os.Getenv("BENCH_SERVER_ARGS"); a != "" {
		if err := json.Unmarshal([]byte(a), &cfg.ServerArgs); err != nil {
			return fmt.Errorf("BENCH_SERVER_ARGS: want a JSON list: %w", err)
		}
	}
	// A simulator given in the environment is used instead of a new one
	// (tests give their own, to look at it after the run).
	if ep, err := EndpointFromEnv(); err == nil {
		cfg.Endpoint = &ep
	}
	if os.Getenv("BENCH_SELF_ENV") != "" {
		cfg.SelfEnv = []string{"BENCH_SELF_ENV=" + os.Getenv("BENCH_SELF_ENV")}
	}
	rep, err := Run(ctx, cfg)
	fmt.Fprintln(stdout)
	rep.WriteTable(stdout, runs)
	// The Enterprise scenario (BENCH_ENTERPRISE=0 leaves it out): N nodes from one OVA.
	var ent *EnterpriseResult
	if err == nil && envOr("BENCH_ENTERPRISE", "1") == "1" {
		entSize, serr := ParseSizes(envOr("BENCH_ENTERPRISE_SIZE", "1G"))
		if serr != nil {
			return fmt.Errorf("BENCH_ENTERPRISE_SIZE: %w", serr)
		}
		ent, err = RunEnterprise(ctx, cfg, entSize[0], 3)
		fmt.Fprintln(stdout)
		ent.WriteTable(stdout, runs)
	}
	if path := os.Getenv("BENCH_RESULTS"); path != "" && err == nil {
		f, ferr := os.Create(path)
		if ferr != nil {
			return ferr
		}
		rep.WriteTable(f, runs)
		if ent != nil {
			fmt.Fprintln(f)
			ent.WriteTable(f, runs)
		}
		if ferr := f.Close(); ferr != nil {
			return ferr
		}
	}
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	return err
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
