package acctest

import (
	"context"
	"errors"
	"testing"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/mo"
)

// VM looks a VM up in vcsim by name as an operator with govc would, independently of the
// provider's own code. ok is false when there is no such VM.
func VM(t testing.TB, name string) (vm mo.VirtualMachine, ok bool) {
	t.Helper()
	ctx := context.Background()
	c, err := Lab(t).Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Logout(ctx)
	f := find.NewFinder(c.Client, true)
	dc, err := f.DefaultDatacenter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.SetDatacenter(dc)
	obj, err := f.VirtualMachine(ctx, name)
	if err != nil {
		var notFound *find.NotFoundError
		if errors.As(err, &notFound) {
			return vm, false
		}
		t.Fatal(err)
	}
	if err := obj.Properties(ctx, obj.Reference(), []string{"name", "config", "runtime", "guest", "summary"}, &vm); err != nil {
		t.Fatal(err)
	}
	return vm, true
}

// WithVM runs f on a VM found by name, for tests that change it behind Terraform's back.
func WithVM(t testing.TB, name string, f func(ctx context.Context, vm *object.VirtualMachine)) {
	t.Helper()
	ctx := context.Background()
	c, err := Lab(t).Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Logout(ctx)
	finder := find.NewFinder(c.Client, true)
	dc, err := finder.DefaultDatacenter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	finder.SetDatacenter(dc)
	vm, err := finder.VirtualMachine(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	f(ctx, vm)
}

// VMCount counts the VMs in vcsim whose name starts with prefix.
func VMCount(t testing.TB, prefix string) int {
	t.Helper()
	ctx := context.Background()
	c, err := Lab(t).Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Logout(ctx)
	f := find.NewFinder(c.Client, false)
	vms, err := f.VirtualMachineList(ctx, "/*/vm/"+prefix+"*")
	if err != nil {
		var notFound *find.NotFoundError
		if errors.As(err, &notFound) {
			return 0
		}
		t.Fatal(err)
	}
	return len(vms)
}
