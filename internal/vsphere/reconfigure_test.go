package vsphere

import (
	"context"
	"strings"
	"testing"

	"github.com/vmware/govmomi/event"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

func TestNeedsPowerCycle(t *testing.T) {
	on, off := types.NewBool(true), types.NewBool(false)
	cur := Sizing{NumCPUs: 8, MemoryMB: 16384}
	hot := Sizing{NumCPUs: 8, MemoryMB: 16384, CPUHotAdd: on, MemoryHotAdd: on}
	for _, c := range []struct {
		name      string
		cur, want Sizing
		why       string // "" when no power cycle is needed
	}{
		{"nothing changes", cur, Sizing{NumCPUs: 8, MemoryMB: 16384, CPUHotAdd: off, MemoryHotAdd: off}, ""},
		{"grow without hot add", cur, Sizing{NumCPUs: 12}, "num_cpus grows from 8 to 12 with CPU hot add off"},
		{"grow memory without hot add", cur, Sizing{MemoryMB: 20480}, "memory grows from 16384 to 20480 MiB with memory hot add off"},
		{"grow with hot add", hot, Sizing{NumCPUs: 12, MemoryMB: 20480}, ""},
		{"grow CPU with only memory hot add", Sizing{NumCPUs: 8, MemoryHotAdd: on}, Sizing{NumCPUs: 12}, "num_cpus grows"},
		{"shrink with hot add", hot, Sizing{NumCPUs: 4}, "num_cpus shrinks from 8 to 4"},
		{"shrink memory with hot add", hot, Sizing{MemoryMB: 8192}, "memory shrinks from 16384 to 8192 MiB"},
		{"turn hot add on", cur, Sizing{CPUHotAdd: on}, "cpu_hot_add_enabled changes"},
		{"turn hot add on while growing", cur, Sizing{NumCPUs: 12, MemoryHotAdd: on}, "memory_hot_add_enabled changes"},
		{"turn hot add off", hot, Sizing{CPUHotAdd: off}, "cpu_hot_add_enabled changes"},
	} {
		got := NeedsPowerCycle(c.cur, c.want)
		if (c.why == "") != (got == "") || !strings.Contains(got, c.why) {
			t.Errorf("%s: NeedsPowerCycle = %q, want %q", c.name, got, c.why)
		}
	}
}

// TestReconfigurePowerCycle grows a running VM's CPUs and memory and checks, from vSphere's
// events, how the VM was taken down: through VMware Tools when they run (VmGuestShutdownEvent),
// hard when they do not, and not at all with hot add on.
func TestReconfigurePowerCycle(t *testing.T) {
	c := connect(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name        string
		tools, hot  bool
		guestEvents int // VmGuestShutdownEvent
		offEvents   int // VmPoweredOffEvent
	}{
		{"resize-no-tools", false, false, 0, 1},
		{"resize-tools", true, false, 1, 1},
		{"resize-hot-add", true, true, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := c.Clone(ctx, CloneSpec{Name: tc.name, Template: "/DC0/vm/DC0_H0_VM0", Placement: Placement{Datacenter: "DC0", Host: "DC0_H0"}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = c.Destroy(context.Background(), id) })
			if tc.hot {
				// Set while the clone is off, as vSphere requires.
				if err := c.Reconfigure(ctx, id, Sizing{CPUHotAdd: types.NewBool(true), MemoryHotAdd: types.NewBool(true)}); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.PowerOn(ctx, id); err != nil {
				t.Fatal(err)
			}
			ref := types.ManagedObjectReference{Type: "VirtualMachine", Value: id}
			if tc.tools {
				// What VMware Tools reports once the guest has booted.
				reg := vcsim.Map()
				sctx := &simulator.Context{Context: ctx, Map: reg, Session: &simulator.Session{}}
				reg.AtomicUpdate(sctx, reg.Get(ref), []types.PropertyChange{
					{Name: "guest.toolsRunningStatus", Val: string(types.VirtualMachineToolsRunningStatusGuestToolsRunning)},
				})
			}
			before, err := c.ReadVM(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			want := Sizing{NumCPUs: before.NumCPUs + 2, MemoryMB: before.MemoryMB + 1024}
			if err := c.Reconfigure(ctx, id, want); err != nil {
				t.Fatal(err)
			}
			after, err := c.ReadVM(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if after.NumCPUs != want.NumCPUs || after.MemoryMB != want.MemoryMB || after.PowerState != "poweredOn" || after.CPUHotAdd != tc.hot || after.MemoryHotAdd != tc.hot {
				t.Errorf("after the resize: %d vCPU, %d MiB, %s, hot add %v/%v; want %d, %d, poweredOn, %v", after.NumCPUs, after.MemoryMB, after.PowerState, after.CPUHotAdd, after.MemoryHotAdd, want.NumCPUs, want.MemoryMB, tc.hot)
			}
			events, err := event.NewManager(c.vim).QueryEvents(ctx, types.EventFilterSpec{Entity: &types.EventFilterSpecByEntity{Entity: ref, Recursion: types.EventFilterSpecRecursionOptionSelf}})
			if err != nil {
				t.Fatal(err)
			}
			var guest, off int
			for _, e := range events {
				switch e.(type) {
				case *types.VmGuestShutdownEvent:
					guest++
				case *types.VmPoweredOffEvent:
					off++
				}
			}
			if guest != tc.guestEvents || off != tc.offEvents {
				t.Errorf("%d guest shutdowns and %d power-offs; want %d and %d", guest, off, tc.guestEvents, tc.offEvents)
			}
		})
	}
}
