package identity

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-log/tflog"
	"golang.org/x/crypto/ssh"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest"
)

// workDir holds one address change's state on the guest. /run is gone after a reboot, and so
// should a half-finished change be.
const workDir = "/run/hipchatdc-net"

// changeScript runs on the guest, detached from the SSH session that started it: taking eth0
// down cuts that session, and ifdown run in it leaves the client hanging (LAB-NOTES). It is
// also the watchdog: unless the provider confirms within the deadline (having reached the
// guest at its new address), it restores the previous file and address. Whoever creates
// $d/decided first, provider or watchdog, decides; the other side reads $d/result.
const changeScript = `d=` + workDir + `
f=` + InterfacesFile + `
prev=` + PreviousFile + `
ticks=%[1]d
put() { cat "$1" > "$f.hipchatdc-tmp" && chmod 644 "$f.hipchatdc-tmp" && mv -f "$f.hipchatdc-tmp" "$f"; }
restart() {
	ifdown --force eth0 >>"$d/log" 2>&1
	ip -4 addr flush dev eth0 >>"$d/log" 2>&1
	ifup eth0 >>"$d/log" 2>&1
}
rollback() {
	put "$prev"
	if restart; then echo "$1; restored the previous address" > "$d/result"
	else echo "$1; restoring the previous address failed too, see $d/log" > "$d/result"; fi
}
# Let the SSH command that started us return first. Under load its exit status can still be
# on its way when eth0 goes down; the provider then follows the change all the same.
sleep 1
# ifdown reads the old file, so it takes down what ifup brought up; the flush also removes
# an address that was configured some other way.
ifdown --force eth0 >>"$d/log" 2>&1
ip -4 addr flush dev eth0 >>"$d/log" 2>&1
put "$d/interfaces.new"
# ifup's own words are the cause of its failure; what the rollback's ifdown and ip say after
# them ("RTNETLINK answers: No such process") is not, so only ifup's go into the result.
if ! ifup eth0 >"$d/ifup.out" 2>&1; then
	cat "$d/ifup.out" >>"$d/log"
	why=$(grep -v '^[[:space:]]*$' "$d/ifup.out" | tail -n 3 | tr '\n' ' ' | sed 's/ *$//')
	%[2]s
	mkdir "$d/decided" 2>/dev/null && rollback "ifup eth0 failed${why:+ (it said: $why)}"
	exit 0
fi
cat "$d/ifup.out" >>"$d/log"
echo up > "$d/ifup"
i=0
while [ $i -lt $ticks ]; do
	[ -d "$d/decided" ] && exit 0
	sleep 0.2
	i=$((i+1))
done
mkdir "$d/decided" 2>/dev/null && rollback "the provider did not confirm the new address in time"
exit 0
`

// scheduleScript installs the new file's content (stdin) and the watchdog, keeps a copy of
// the current file, and starts the change in the background. Its arguments: %[1]s shell run
// first (tests only), %[2]s the change script, %[3]s the change's id, %[4]s shell run last
// (tests only). $d/scheduled holds the id of the change that was started from $d, so that a
// later reader never takes an earlier change's files for this one's.
const scheduleScript = `# schedule address change of eth0 with rollback
%[1]sset -e
d=` + workDir + `
rm -rf "$d"
mkdir -p "$d"
cat > "$d/interfaces.new"
if [ -f ` + InterfacesFile + ` ]; then cp -p ` + InterfacesFile + ` ` + PreviousFile + `; else : > ` + PreviousFile + `; fi
cat > "$d/change" <<'HIPCHATDC_EOF'
%[2]sHIPCHATDC_EOF
echo %[3]s > "$d/scheduled"
setsid nohup sh "$d/change" </dev/null >/dev/null 2>&1 &
%[4]s`

// ours is shell that tells whether $d belongs to the change with the id given as %[1]s; the
// scripts below that read $d wait up to 5 s for it (the scheduling command may still be
// running when its connection was lost) and then say notStarted.
const ours = `ours() { [ "$(cat "$d/scheduled" 2>/dev/null)" = "%[1]s" ]; }
i=0
while ! ours && [ $i -lt 25 ]; do sleep 0.2; i=$((i+1)); done
`

// confirmScript runs over the new connection: it waits for ifup to finish, checks that eth0
// has the new address, and disarms the watchdog. %[1]s is the change's id, %[2]s the address.
const confirmScript = `# confirm address change of eth0
d=` + workDir + `
` + ours + `ours || { echo "` + notStarted + `" >&2; exit 7; }
i=0
while [ ! -e "$d/ifup" ] && [ ! -e "$d/result" ] && [ $i -lt 100 ]; do sleep 0.2; i=$((i+1)); done
if [ -e "$d/result" ]; then cat "$d/result" >&2; exit 6; fi
[ -e "$d/ifup" ] || { echo "ifup eth0 did not finish" >&2; exit 5; }
ip -4 -o addr show dev eth0 | grep -q ' inet %[2]s ' || { echo "eth0 does not have %[2]s" >&2; exit 4; }
if mkdir "$d/decided" 2>/dev/null; then echo confirmed > "$d/result"; else cat "$d/result" >&2; exit 6; fi
`

// reportScript reads what happened on the guest after a failed change: the result line,
// which says the cause. The commands' output stays in the log on the guest; its last lines are
// mostly ifdown's and ip's complaints about addresses already gone, not the cause. A change
// that was never started (its scheduling lost its connection before it got that far) says
// notStarted. %[1]s is the change's id.
const reportScript = `# report address change of eth0
d=` + workDir + `
` + ours + `ours || { echo "` + notStarted + `"; exit 0; }
i=0
while [ ! -e "$d/result" ] && [ $i -lt 150 ]; do sleep 0.2; i=$((i+1)); done
cat "$d/result" 2>/dev/null || echo "no result recorded"`

// notStarted is what the scripts say when the change never started.
const notStarted = "the change was never started"

// logFile is where the change's commands (ifdown, ip, ifup) wrote their output on the guest.
const logFile = workDir + "/log"

func changeAddress(ctx context.Context, c *guest.Conn, obs Observation, want Identity, opts Options) (*guest.Conn, error) {
	// The guest is reached again, at either address, as the machine whose host key was just
	// verified: a known_hosts file may not list the new address yet, and whatever answers
	// there must be this guest, not merely one the file knows.
	oldCfg := pinned(c.Config(), c.HostKey())
	newCfg := oldCfg
	newCfg.Target.Host = want.Address.Addr().String()
	newCfg.Timeout = opts.ReconnectTimeout

	content := RenderInterfaces(obs.Interfaces, want.Address, want.Gateway, want.DNS)
	ticks := int(opts.RollbackAfter / (200 * time.Millisecond))
	id := rand.Text() // names this change on the guest (see scheduleScript); [A-Z2-7], safe in shell
	script := fmt.Sprintf(scheduleScript, opts.scheduleHead, fmt.Sprintf(changeScript, ticks, opts.beforeRollback), id, opts.scheduleTail)
	tflog.Info(ctx, "guest: changing eth0 address", map[string]any{"from": oldCfg.Target.Host, "to": want.Address.String(), "rollback_after": opts.RollbackAfter.String()})
	// lost is set when the command that schedules the change lost its connection: the change
	// may be under way (its ifdown can cut the session before the exit status is sent), so it
	// is followed like a scheduled one, and the guest says later whether it ever started.
	var lost error
	if _, err := c.RunChange(ctx, script, strings.NewReader(content)); err != nil {
		var cmd *guest.CommandError
		switch {
		case ctx.Err() != nil:
			return c, fmt.Errorf("address change of %s to %s interrupted while it was scheduled (%w); if it started, the guest's watchdog restores %s within %s, since nothing confirms the new address",
				oldCfg.Target.Host, want.Address, err, oldCfg.Target.Host, opts.RollbackAfter)
		case !errors.As(err, &cmd) || cmd.ExitStatus >= 0:
			// The script failed before its last line, which starts the change (set -e).
			return c, fmt.Errorf("address change of %s to %s not started, nothing was changed: %w", oldCfg.Target.Host, want.Address, err)
		}
		lost = err
		tflog.Warn(ctx, "guest: the command scheduling the address change lost its connection; following the change", map[string]any{"error": err.Error()})
	}
	// The old connection dies with the old address; keep-alives would notice, closing is quicker.
	c.Close()

	// Give the detached script time to take eth0 down, so that a change that keeps the
	// address (gateway or DNS only) is not confirmed before it happened.
	select {
	case <-ctx.Done():
	case <-time.After(1500 * time.Millisecond):
	}
	// Reach the new address. Meanwhile watch the old one: when it answers again the watchdog
	// has already rolled back (ifup failed), and waiting longer for the new one is pointless.
	// With an unchanged address (gateway or DNS only) the watch starts only after a failure.
	watchCtx, stopWatch := context.WithTimeout(ctx, opts.RollbackAfter+30*time.Second)
	defer stopWatch()
	var old chan oldResult
	watch := func() {
		old = make(chan oldResult, 1)
		go func() { old <- watchOld(watchCtx, oldCfg, id) }()
	}
	same := oldCfg.Target.Host == newCfg.Target.Host
	if !same {
		watch()
	}
	type dialed struct {
		c   *guest.Conn
		err error
	}
	newCtx, stopNew := context.WithCancel(ctx)
	defer stopNew()
	reached := make(chan dialed, 1)
	go func() { c, err := guest.Dial(newCtx, newCfg); reached <- dialed{c, err} }()

	var reason error
	var early *oldResult
	select {
	case d := <-reached:
		if d.err != nil {
			reason = fmt.Errorf("the guest did not answer at %s: %w", newCfg.Target.Host, d.err)
			break
		}
		// The confirmation races the watch of the old address. ifup can set the new address
		// and fail after it (a refused gateway): a connection made in that moment hangs once
		// the watchdog has taken the address away again, until keep-alives find it dead (up
		// to twice their interval). The guest answering at its old address with the change's
		// outcome recorded is the quicker sign: the watchdog has decided, the confirmation
		// cannot succeed any more, so its connection is closed.
		confirmed := make(chan error, 1)
		go func() {
			_, err := d.c.RunChange(ctx, fmt.Sprintf(confirmScript, id, want.Address), nil)
			confirmed <- err
		}()
		var err error
		select {
		case err = <-confirmed:
		case r := <-old:
			early = &r
			if r.conn == nil {
				err = <-confirmed // the watch failed; the confirmation may still succeed
				break
			}
			reason = fmt.Errorf("the guest went back to %s while its new address %s was being confirmed", oldCfg.Target.Host, newCfg.Target.Host)
		}
		if reason == nil && err == nil {
			tflog.Info(ctx, "guest: eth0 address changed and confirmed", map[string]any{"address": want.Address.String()})
			if old != nil && early == nil {
				stopWatch()
				go func(ch chan oldResult) {
					if r := <-ch; r.conn != nil {
						r.conn.Close()
					}
				}(old)
			}
			return d.c, nil
		}
		d.c.Close() // ends a confirmation still hanging (its goroutine's channel is buffered)
		if reason == nil {
			reason = fmt.Errorf("the guest did not confirm the new address: %w", err)
		}
	case r := <-old:
		stopNew()
		go func() {
			if d := <-reached; d.c != nil {
				d.c.Close()
			}
		}()
		early = &r
		reason = fmt.Errorf("the guest went back to %s before it answered at %s", oldCfg.Target.Host, newCfg.Target.Host)
	}
	if old == nil {
		watch()
	}

	// The watchdog restores the old address (at once if ifup failed, at the deadline if not).
	var r oldResult
	if early != nil {
		r = *early
	} else {
		r = <-old
	}
	if r.conn == nil {
		if lost != nil {
			reason = fmt.Errorf("%w; before that, the command that scheduled the change lost its connection (%w)", reason, lost)
		}
		return nil, fmt.Errorf("changing the address of %s to %s failed (%v), and the guest does not answer at its old address %s either (%v); "+
			"its watchdog restores the previous /etc/network/interfaces (kept as %s) unless the change was confirmed",
			oldCfg.Target.Host, want.Address, reason, oldCfg.Target.Host, r.err, PreviousFile)
	}
	if lost != nil && strings.TrimSpace(string(r.report)) == notStarted {
		return r.conn, fmt.Errorf("address change of %s to %s not started, nothing was changed: the command that schedules it lost its connection before it started the change: %w",
			oldCfg.Target.Host, want.Address, lost)
	}
	return r.conn, fmt.Errorf("changing the address of %s to %s failed and was rolled back; the guest answers at %s again. Cause: %w. On the guest: %s (the output of ifdown, ip and ifup is in %s there)",
		oldCfg.Target.Host, want.Address, oldCfg.Target.Host, reason, strings.Join(strings.Fields(string(r.report)), " "), logFile)
}

// pinned is cfg with the target verified against key alone, the key the guest proved it has
// (or, with insecure_ignore_host_key, the one it showed: better than none). The bastion is
// reached as before.
func pinned(cfg guest.Config, key ssh.PublicKey) guest.Config {
	if key == nil {
		return cfg
	}
	cfg.Target.HostKey = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key)))
	cfg.Target.HostKeyOrigin = "the key this guest presented at " + cfg.Target.Host + " before its address changed"
	cfg.Target.KnownHostsFile, cfg.Target.InsecureIgnoreHostKey = "", false
	return cfg
}

type oldResult struct {
	conn   *guest.Conn
	report []byte
	err    error
}

// watchOld waits until the guest answers at its old address and has recorded the outcome of
// the change (the report script waits for it). A connection made just before the old address
// went away dies with it; then it tries again.
func watchOld(ctx context.Context, cfg guest.Config, id string) oldResult {
	for {
		if dl, ok := ctx.Deadline(); ok {
			cfg.Timeout = max(time.Until(dl), time.Millisecond)
		}
		c, err := guest.Dial(ctx, cfg)
		if err != nil {
			return oldResult{err: err}
		}
		report, err := c.Run(ctx, fmt.Sprintf(reportScript, id), nil)
		if err == nil {
			return oldResult{conn: c, report: report}
		}
		c.Close()
		if ctx.Err() != nil {
			return oldResult{err: ctx.Err()}
		}
	}
}
