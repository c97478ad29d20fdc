package resources_test

import (
	"context"
	"fmt"
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/acctest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/lab"
)

// placedNode is a hipchatdc_node (VM part only) placed by the given lines, after the provider
// block provider.
func placedNode(t *testing.T, provider, name, placement string) string {
	v := acctest.Lab(t).VSphere()
	return provider + fmt.Sprintf(`
resource "hipchatdc_node" "app" {
  name       = %q
  datacenter = %q
  network    = %q
  ova_path   = %q
%s
}
`, name, v.Datacenter, v.Network, acctest.OVA(t, lab.KindNode, 40), placement)
}

// unknownProvider is the lab's provider block with vsphere_server known only at apply, so
// that nothing can be asked of vSphere at plan time.
func unknownProvider(t *testing.T) string {
	v := acctest.Lab(t).VSphere()
	return fmt.Sprintf(`
resource "terraform_data" "vcenter" {
  input = %q
}

provider "hipchatdc" {
  vsphere_server = terraform_data.vcenter.output
  user           = %q
  password       = %q
  ca_file        = %q
}
`, v.Server, v.User, v.Password, v.CAFile)
}

// assertNoUpload: vcsim never created a VM of the name, so no NFC lease was ever opened for it
// (an import creates the VM first) and not a byte of the OVA was uploaded.
func assertNoUpload(t *testing.T, name string) {
	t.Helper()
	if n := acctest.Lab(t).VMsMade(name); n != 0 {
		t.Errorf("vcsim created %d VM(s) called %q: the import went as far as vSphere before being refused", n, name)
	}
	if _, ok := acctest.VM(t, name); ok {
		t.Errorf("VM %q is in vcsim", name)
	}
}

// TestAccNode_slowHostRefusedAtPlan: a node pinned to an ESXi host under the guide's 2.8 GHz
// fails the plan, naming the attribute, the host, its clock, the minimum and the opt-out.
func TestAccNode_slowHostRefusedAtPlan(t *testing.T) {
	t.Parallel()
	v := acctest.Lab(t).VSphere()
	name := "tf-slow-host"
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.Factories(),
		Steps: []resource.TestStep{{
			Config:      placedNode(t, acctest.ProviderConfig(t), name, fmt.Sprintf("  host = %q", v.SlowHost)),
			PlanOnly:    true,
			ExpectError: regexp.MustCompile(fmt.Sprintf(`(?s)ESXi host too slow for the guide.*host = %q.*%s.*allow_slow_cpu = true`, v.SlowHost, acctest.Wrapped(fmt.Sprintf("a Hipchat node needs CPUs of 2.8 GHz or faster (small-scale guide, hardware requirements); host %q runs at %d MHz", v.SlowHost, lab.SlowHostMHz)))),
		}},
	})
	assertNoUpload(t, name)
}

// TestAccNode_slowClusterHostRefused: a cluster with one host under 2.8 GHz is refused, since
// DRS may start or move the VM there: at plan time when the provider is configured, and when
// the plan could not ask vSphere (its server known only at apply), during the apply before any
// upload. (Terraform plans the resource again during the apply, once the provider is
// configured, and that plan refuses it; the import's own check, which would catch hosts that
// changed in between, is TestPreflightBeforeLease's in internal/vsphere.)
func TestAccNode_slowClusterHostRefused(t *testing.T) {
	t.Parallel()
	v := acctest.Lab(t).VSphere()
	name := "tf-slow-cluster"
	placement := fmt.Sprintf("  cluster = %q\n  datastore = %q", v.SlowCluster, v.Datastore)
	want := regexp.MustCompile(fmt.Sprintf(`(?s)ESXi host too slow for the guide.*cluster = %q.*%s.*%s`, v.SlowCluster,
		acctest.Wrapped(fmt.Sprintf("host %q runs at %d MHz", v.SlowClusterHost, lab.SlowHostMHz)), acctest.Wrapped("because DRS may start or move the VM on any of them")))
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.Factories(),
		Steps: []resource.TestStep{
			{Config: placedNode(t, acctest.ProviderConfig(t), name, placement), PlanOnly: true, ExpectError: want},
			{Config: placedNode(t, unknownProvider(t), name, placement), ExpectError: want},
		},
	})
	assertNoUpload(t, name)
}

// TestAccNode_fullDatastoreRefusedBeforeUpload: a datastore with less free space than the
// OVA's disk holds is refused before the upload, naming the datastore, its free space and the
// VM's need.
func TestAccNode_fullDatastoreRefusedBeforeUpload(t *testing.T) {
	// Not parallel: lab.AddDatastore leaves the datacenter without a default datastore while it runs.
	l := acctest.Lab(t)
	v := l.VSphere()
	name, ds := "tf-full-datastore", "LocalDS_small"
	remove, err := l.AddDatastore(context.Background(), ds, 512<<10) // the lab OVA's disk holds 1 MiB
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := remove(); err != nil {
			t.Error(err)
		}
	})
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.Factories(),
		CheckDestroy:             checkNoVM(t, name),
		Steps: []resource.TestStep{{
			Config: placedNode(t, acctest.ProviderConfig(t), name, fmt.Sprintf("  cluster = %q\n  datastore = %q", v.Cluster, ds)),
			ExpectError: regexp.MustCompile(`(?s)Not enough space on the datastore.*` + acctest.Wrapped(fmt.Sprintf(`datastore = %q: datastore %q has 512.0KB free and the VM needs 1.0MB (1.0MB for the disks of`,
				ds, ds))),
		}},
	})
	assertNoUpload(t, name)
}

// TestAccNode_allowSlowCPU: with allow_slow_cpu a node goes to the slow host (the warning is
// TestHostCPUCheckWarns's).
func TestAccNode_allowSlowCPU(t *testing.T) {
	t.Parallel()
	v := acctest.Lab(t).VSphere()
	name := "tf-slow-allowed"
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.Factories(),
		CheckDestroy:             checkNoVM(t, name),
		Steps: []resource.TestStep{{
			Config: placedNode(t, acctest.ProviderConfig(t), name, fmt.Sprintf("  host = %q\n  datastore = %q\n  allow_slow_cpu = true", v.SlowHost, v.Datastore)),
			Check: func(*terraform.State) error {
				vm, ok := acctest.VM(t, name)
				if !ok {
					return fmt.Errorf("no VM %q in vcsim", name)
				}
				if want := acctest.MOID(t, "/"+v.Datacenter+"/host/"+v.SlowHost+"/"+v.SlowHost); vm.Runtime.Host == nil || vm.Runtime.Host.Value != want {
					return fmt.Errorf("VM %q runs on %v, want the slow host %s (%s)", name, vm.Runtime.Host, v.SlowHost, want)
				}
				return nil
			},
		}},
	})
}
