package hipchat

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest"
)

// DefaultWaitInterval is how often WaitForDataStores probes the data stores again.
const DefaultWaitInterval = 5 * time.Second

// Endpoint is a data store service as the node reaches it: a TCP port on a host.
type Endpoint struct {
	Name string // "postgres", "redis" or "nfs"
	Host string
	Port int
}

func (e Endpoint) String() string {
	return e.Name + " at " + net.JoinHostPort(e.Host, strconv.Itoa(e.Port))
}

// nfsPort is NFS v4's one port: a v4 client needs no portmapper.
const nfsPort = 2049

// Endpoints are the three services d names, in the order the self-check probes them.
func (d DataStores) Endpoints() []Endpoint {
	nfsHost, _, _ := strings.Cut(d.NFSExport, ":")
	return []Endpoint{
		{"postgres", d.PostgresHost, d.postgresPort()},
		{"redis", d.RedisHost, d.redisPort()},
		{"nfs", nfsHost, nfsPort},
	}
}

// NotAnsweringError is a wait for the data stores that ended (its context's deadline, the
// resource's create or update timeout) with some of them still not answering from the node.
type NotAnsweringError struct {
	Waited  time.Duration
	Pending []string // "postgres at 10.0.0.5:5432: Connection refused", one per silent service
}

func (e *NotAnsweringError) Error() string {
	return fmt.Sprintf("after waiting %s, the node still cannot connect to: %s",
		e.Waited.Round(time.Second), strings.Join(e.Pending, "; "))
}

// probeScript opens a TCP connection from the node to each endpoint (bash's /dev/tcp: the
// appliance and the lab's stand-in both have bash and coreutils' timeout, not always nc) and
// prints one line per endpoint: "ok NAME" or "down NAME REASON".
func probeScript(eps []Endpoint) string {
	var b strings.Builder
	b.WriteString("# hipchat data stores: do they answer?\n")
	b.WriteString(`probe() {
	if err=$(timeout 5 bash -c 'exec 3<>"/dev/tcp/$1/$2"' probe "$2" "$3" 2>&1); then
		echo "ok $1"
	elif [ $? -eq 124 ]; then
		echo "down $1 no answer within 5 s"
	else
		echo "down $1 $(printf '%s' "$err" | tail -n 1 | sed 's/^.*: //')"
	fi
}
`)
	for _, e := range eps {
		fmt.Fprintf(&b, "probe %s %s %d\n", e.Name, guest.Quote(e.Host), e.Port)
	}
	return b.String()
}

// pending parses probeScript's output into the endpoints that did not answer, with the
// reason the node gave.
func pending(out string, eps []Endpoint) ([]string, error) {
	type result struct {
		up     bool
		reason string
	}
	seen := map[string]result{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		word, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
		name, reason, _ := strings.Cut(rest, " ")
		switch word {
		case "ok":
			seen[name] = result{up: true}
		case "down":
			// A failing connect can leave no message (bash killed by a signal writes none):
			// it is still down.
			if strings.TrimSpace(reason) == "" {
				reason = "connection failed without a message"
			}
			seen[name] = result{reason: reason}
		}
	}
	var down []string
	for _, e := range eps {
		r, ok := seen[e.Name]
		if !ok {
			return nil, fmt.Errorf("hipchat: probing the data stores: no result for %s in %q", e.Name, out)
		}
		if !r.up {
			down = append(down, e.String()+": "+r.reason)
		}
	}
	return down, nil
}

// WaitForDataStores waits until Postgres, Redis and the NFS server that d names accept a TCP
// connection from the node, probing every interval (DefaultWaitInterval when zero) with one
// read-only command, and calls progress with what still does not answer after each probe that
// finds something silent; an error from progress ends the wait with that error (the caller
// knows the data stores will not come). It ends with a *NotAnsweringError when ctx ends first.
//
// It waits for the servers to answer, not for their settings: the self-check that follows
// judges those, so a wrong password fails at once with the client's own words instead of
// waiting out the timeout. hipchatdc_datastore_node configures NFS last, so once its NFS server
// answers, its Redis and Postgres (user and database) are set up too.
func WaitForDataStores(ctx context.Context, r guest.Runner, d DataStores, interval time.Duration, progress func(pending []string) error) error {
	if interval <= 0 {
		interval = DefaultWaitInterval
	}
	eps := d.Endpoints()
	script := probeScript(eps)
	start := time.Now()
	var last []string
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		out, err := r.Run(ctx, script, nil)
		if err == nil {
			last, err = pending(string(out), eps)
			if err != nil {
				return err
			}
			if len(last) == 0 {
				return nil
			}
			if progress != nil {
				if err := progress(last); err != nil {
					return err
				}
			}
		} else if ctx.Err() == nil {
			return fmt.Errorf("hipchat: probing the data stores from the node: %w", err)
		}
		select {
		case <-ctx.Done():
			if last == nil {
				last = []string{"the probe did not finish"}
			}
			return &NotAnsweringError{Waited: time.Since(start), Pending: last}
		case <-tick.C:
		}
	}
}
