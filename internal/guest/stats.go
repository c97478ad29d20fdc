package guest

import "sync/atomic"

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

var counters struct {
	connections, bastionConnections, readCommands, changeCommands atomic.Int64
}

// Stats returns a copy of the process-wide counters.
func Stats() Counters {
	return Counters{
		Connections:        counters.connections.Load(),
		BastionConnections: counters.bastionConnections.Load(),
		ReadCommands:       counters.readCommands.Load(),
		ChangeCommands:     counters.changeCommands.Load(),
	}
}

// ResetStats sets all counters to zero.
func ResetStats() {
	counters.connections.Store(0)
	counters.bastionConnections.Store(0)
	counters.readCommands.Store(0)
	counters.changeCommands.Store(0)
}
