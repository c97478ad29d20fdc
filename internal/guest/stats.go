package guest

import (
	"context"
	"sync/atomic"
)

// Counters counts what this process did over SSH since the last ResetStats. Acceptance tests use
// it to prove that a re-apply ran no changing command and that a refresh cost one connection
// and one command per guest.
type Counters struct {
	// Connections is the number of SSH connections established to targets (one per
	// successful Dial, whether direct or through a bastion).
	Connections int64
	// BastionConnections is the number of SSH connections established to bastion hosts.
	BastionConnections int64
	// ReadCommands is the number of commands run that only read (Run, ReadFile).
	ReadCommands int64
	// ChangeCommands is the number of commands run that may change the guest (RunChange,
	// WriteFile).
	ChangeCommands int64
}

// Commands is the total number of commands run.
func (s Counters) Commands() int64 { return s.ReadCommands + s.ChangeCommands }

var counters Tally

// A Tally counts like the process-wide counters, but only what is done under a context that
// carries it (WithTally): the connections dialled with such a context and every command run
// over them. Tests that run in parallel in one process each give their provider a Tally of
// its own (acctest.CountSSH), where Stats would add up every test's guests.
type Tally struct {
	connections, bastionConnections, readCommands, changeCommands atomic.Int64
}

// Stats returns a copy of the tally's counters.
func (t *Tally) Stats() Counters {
	return Counters{
		Connections:        t.connections.Load(),
		BastionConnections: t.bastionConnections.Load(),
		ReadCommands:       t.readCommands.Load(),
		ChangeCommands:     t.changeCommands.Load(),
	}
}

// Reset sets the tally's counters to zero.
func (t *Tally) Reset() {
	t.connections.Store(0)
	t.bastionConnections.Store(0)
	t.readCommands.Store(0)
	t.changeCommands.Store(0)
}

type tallyKey struct{}

// WithTally returns a context under which connections dialled, and the commands run over them,
// are counted in t as well as process-wide.
func WithTally(ctx context.Context, t *Tally) context.Context {
	return context.WithValue(ctx, tallyKey{}, t)
}

// tallies are the counters a connection dialled under ctx adds to: the process's, and the
// context's tally if it has one.
func tallies(ctx context.Context) []*Tally {
	if t, ok := ctx.Value(tallyKey{}).(*Tally); ok && t != nil {
		return []*Tally{&counters, t}
	}
	return []*Tally{&counters}
}

// Stats returns a copy of the process-wide counters.
func Stats() Counters { return counters.Stats() }

// ResetStats sets all counters to zero.
func ResetStats() { counters.Reset() }
