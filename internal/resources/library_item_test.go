package resources_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/vmware/govmomi/vapi/library"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/acctest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/lab"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/ovatest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/vsphere"
)

// countingServer serves one file and counts the bytes of it that left the server, as a web
// server's access log would.
type countingServer struct {
	*httptest.Server
	served atomic.Int64
	gets   atomic.Int64
}

func serveCounted(t *testing.T, file string) *countingServer {
	s := &countingServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			s.gets.Add(1)
		}
		http.ServeFile(countingWriter{w, &s.served}, r, file)
	}))
	t.Cleanup(s.Close)
	return s
}

type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (w countingWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.n.Add(int64(n))
	return n, err
}

// libraryNodes is a library item and a hipchatdc_node per name deployed from it (VM part only).
func libraryNodes(t *testing.T, library, source string, names ...string) string {
	v := acctest.Lab(t).VSphere()
	cfg := acctest.ProviderConfig(t) + fmt.Sprintf(`
resource "hipchatdc_library_item" "node" {
  library   = %q
  name      = "hipchat-node"
  datastore = %q
  %s
}
`, library, v.Datastore, source)
	for i, name := range names {
		cfg += fmt.Sprintf(`
resource "hipchatdc_node" "n%d" {
  name         = %q
  datacenter   = %q
  cluster      = %q
  datastore    = %q
  network      = %q
  library_item = hipchatdc_library_item.node.id
}
`, i+1, name, v.Datacenter, v.Cluster, v.Datastore, v.Network)
	}
	return cfg
}

// checkBooted: the VM is in vSphere, powered on, booted as the OVA's kind of guest (its
// descriptor's extraConfig came with the deploy) with the address VMware Tools reports recorded.
func checkBooted(t *testing.T, addr, name string) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		vm, ok := acctest.VM(t, name)
		if !ok {
			return fmt.Errorf("VM %s not in vSphere", name)
		}
		if vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn {
			return fmt.Errorf("VM %s is %s", name, vm.Runtime.PowerState)
		}
		var kind string
		for _, o := range vm.Config.ExtraConfig {
			switch ov := o.GetOptionValue(); ov.Key {
			case lab.KindKey:
				kind = fmt.Sprint(ov.Value)
			case vsphere.CreateMarker:
				if ov.Value != "" {
					return fmt.Errorf("VM %s still carries %s = %v", name, vsphere.CreateMarker, ov.Value)
				}
			}
		}
		if kind != lab.KindNode {
			return fmt.Errorf("VM %s has %s = %q, want %q (the OVA's vmw:ExtraConfig)", name, lab.KindKey, kind, lab.KindNode)
		}
		rs := s.RootModule().Resources[addr].Primary
		if ip := rs.Attributes["default_ip_address"]; ip == "" || ip != vm.Guest.IpAddress {
			return fmt.Errorf("%s records default_ip_address %q, VMware Tools reports %q", addr, ip, vm.Guest.IpAddress)
		}
		return nil
	}
}

func checkNoLibrary(t *testing.T, name string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		if items, ok := acctest.Libraries(t)[name]; ok {
			return fmt.Errorf("content library %q is still there, with items %q", name, items)
		}
		return nil
	}
}

// TestAccLibraryItem_threeNodesFromOnePull: three nodes of an Enterprise-scale deployment from
// one library item that vCenter pulled from ova_url. The web server serving the OVA sends it
// once, whole (the provider relays none of it: vCenter downloads), and each node boots.
func TestAccLibraryItem_threeNodesFromOnePull(t *testing.T) {
	t.Parallel()
	ova := acctest.OVA(t, lab.KindNode, 40)
	st, err := os.Stat(ova)
	if err != nil {
		t.Fatal(err)
	}
	srv := serveCounted(t, ova)
	names := []string{"tf-lib-node-1", "tf-lib-node-2", "tf-lib-node-3"}
	const lib = "tf-lib-pull"
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.Factories(),
		CheckDestroy: resource.ComposeAggregateTestCheckFunc(
			checkNoVM(t, names[0]), checkNoVM(t, names[1]), checkNoVM(t, names[2]), checkNoLibrary(t, lib)),
		Steps: []resource.TestStep{{
			Config: libraryNodes(t, lib, fmt.Sprintf("ova_url = %q", srv.URL+"/hipchat-node.ova"), names...),
			Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckResourceAttr("hipchatdc_library_item.node", "library", lib),
				resource.TestCheckResourceAttrPair("hipchatdc_node.n1", "library_item", "hipchatdc_library_item.node", "id"),
				checkBooted(t, "hipchatdc_node.n1", names[0]),
				checkBooted(t, "hipchatdc_node.n2", names[1]),
				checkBooted(t, "hipchatdc_node.n3", names[2]),
				func(*terraform.State) error {
					if got, gets := srv.served.Load(), srv.gets.Load(); got != st.Size() || gets != 1 {
						return fmt.Errorf("the OVA's server sent %d bytes in %d GETs for three nodes, want %d (the OVA once)", got, gets, st.Size())
					}
					if items := acctest.Libraries(t)[lib]; !slices.Equal(items, []string{"hipchat-node"}) {
						return fmt.Errorf("content library %q holds %q", lib, items)
					}
					return nil
				},
			),
		}},
	})
}

// TestAccLibraryItem_uploadOnceAndBadInput: an item uploaded from ova_path, then two nodes
// deployed from it with the OVA file gone (they do not read it), one of them placed on a
// datastore without room: that one fails, naming the attribute, and leaves no VM; the other
// is kept and recorded. Then the item refused where a library item of its name exists with
// other content, and a new library refused on a datastore without room for the OVA: both
// before anything is created.
func TestAccLibraryItem_uploadOnceAndBadInput(t *testing.T) {
	// Not parallel: lab.AddDatastore leaves the datacenter without a default datastore while it runs.
	l := acctest.Lab(t)
	v := l.VSphere()
	ova := filepath.Join(t.TempDir(), "hipchat-node.ova")
	data, err := os.ReadFile(acctest.OVA(t, lab.KindNode, 40))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ova, data, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	full, err := l.AddDatastore(ctx, "tf-lib-full", 512<<10) // the lab OVA's disk holds 1 MiB
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = full() })
	const lib = "tf-lib-push"
	ok, bad := "tf-lib-kept", "tf-lib-nospace"
	base := libraryNodes(t, lib, fmt.Sprintf("ova_path = %q", ova), ok)
	twoNodes := libraryNodes(t, lib, fmt.Sprintf("ova_path = %q", ova), ok, bad)
	twoNodes = strings.Replace(twoNodes, fmt.Sprintf("name         = %q\n  datacenter   = %q\n  cluster      = %q\n  datastore    = %q", bad, v.Datacenter, v.Cluster, v.Datastore),
		fmt.Sprintf("name         = %q\n  datacenter   = %q\n  cluster      = %q\n  datastore    = %q", bad, v.Datacenter, v.Cluster, "tf-lib-full"), 1)
	if !strings.Contains(twoNodes, `"tf-lib-full"`) {
		t.Fatal("the second node is not on the full datastore")
	}

	// A library made by hand that already has an item called hipchat-node, of other content.
	const shared = "tf-lib-shared"
	acctest.WithLibrary(t, func(ctx context.Context, m *library.Manager) {
		dsID := acctest.MOID(t, "/"+v.Datacenter+"/datastore/"+v.Datastore)
		id, err := m.CreateLibrary(ctx, library.Library{Name: shared, Type: "LOCAL", Storage: []library.StorageBacking{{DatastoreID: dsID, Type: "DATASTORE"}}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			acctest.WithLibrary(t, func(ctx context.Context, m *library.Manager) { _ = m.ForceDeleteLibrary(ctx, &library.Library{ID: id}) })
		})
		if _, err := m.CreateLibraryItem(ctx, library.Item{Name: "hipchat-node", Type: library.ItemTypeISO, LibraryID: id}); err != nil {
			t.Fatal(err)
		}
	})

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.Factories(),
		CheckDestroy:             resource.ComposeAggregateTestCheckFunc(checkNoVM(t, ok), checkNoVM(t, bad), checkNoLibrary(t, lib)),
		Steps: []resource.TestStep{
			{
				// The item alone: its files are the OVA's descriptor and disk, checked against the
				// manifest on the way.
				Config: strings.SplitN(base, "\nresource \"hipchatdc_node\"", 2)[0],
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("hipchatdc_library_item.node", "files.#", "2"),
					resource.TestMatchResourceAttr("hipchatdc_library_item.node", "files.0", regexp.MustCompile(`\.ovf$`)),
				),
			},
			{
				// The OVA file is gone: deploys copy the item inside vSphere. The node on the full
				// datastore fails before its deploy; the other is made and kept.
				PreConfig:   func() { _ = os.Remove(ova) },
				Config:      twoNodes,
				ExpectError: regexp.MustCompile(`(?s)Not enough space on the datastore.*datastore = "tf-lib-full".*` + acctest.Wrapped("library item \"hipchat-node\"")),
			},
			{
				// The failed node left nothing; the other is in the state (no change planned for it).
				Config: base,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("hipchatdc_node.n1", plancheck.ResourceActionNoop),
					plancheck.ExpectResourceAction("hipchatdc_library_item.node", plancheck.ResourceActionNoop),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					checkBooted(t, "hipchatdc_node.n1", ok),
					checkNoVM(t, bad),
					func(*terraform.State) error {
						if n := l.VMsMade(bad); n != 0 {
							return fmt.Errorf("vcsim made %d VM(s) called %s", n, bad)
						}
						return nil
					},
				),
			},
			{
				// An item of that name, of other content, in an existing library.
				Config: base + fmt.Sprintf(`
resource "hipchatdc_library_item" "clash" {
  library  = %q
  name     = "hipchat-node"
  ova_path = %q
}
`, shared, acctest.OVA(t, lab.KindNode, 40)),
				ExpectError: regexp.MustCompile(`(?s)Cannot use the content library.*name = "hipchat-node".*` + acctest.Wrapped(fmt.Sprintf("content library %q already holds an item named \"hipchat-node\"", shared)) + `.*` + acctest.Wrapped("Nothing was created or uploaded.")),
			},
			{
				// A new library on a datastore without room for the OVA: no library is made.
				Config: base + fmt.Sprintf(`
resource "hipchatdc_library_item" "full" {
  library   = "tf-lib-on-full"
  name      = "hipchat-node"
  datastore = "tf-lib-full"
  ova_path  = %q
}
`, acctest.OVA(t, lab.KindNode, 40)),
				ExpectError: regexp.MustCompile(`(?s)Not enough space on the content library's datastore.*library = "tf-lib-on-full".*datastore "tf-lib-full" has 512`),
			},
			{
				Config: base,
				Check: func(*terraform.State) error {
					libs := acctest.Libraries(t)
					if _, made := libs["tf-lib-on-full"]; made {
						return fmt.Errorf("a library was made on the full datastore")
					}
					if items := libs[shared]; !slices.Equal(items, []string{"hipchat-node"}) {
						return fmt.Errorf("library %q now holds %q", shared, items)
					}
					return nil
				},
			},
		},
	})
}

// TestAccLibraryItem_manifestMismatch: an OVA whose disk is not the one its manifest vouches
// for is refused as an import refuses it, and leaves no item, and no library the provider made
// for it.
func TestAccLibraryItem_manifestMismatch(t *testing.T) {
	t.Parallel()
	bad, _ := integrityOVA(t, ovatest.Options{Manifest: "SHA256", WrongDigest: ovatest.DiskFileName})
	v := acctest.Lab(t).VSphere()
	const lib = "tf-lib-mismatch"
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.Factories(),
		Steps: []resource.TestStep{{
			Config: acctest.ProviderConfig(t) + fmt.Sprintf(`
resource "hipchatdc_library_item" "node" {
  library   = %q
  name      = "hipchat-node"
  datastore = %q
  ova_path  = %q
}
`, lib, v.Datastore, bad),
			ExpectError: regexp.MustCompile(`(?s)with hipchatdc_library_item.node.*ova_path.*` + acctest.Wrapped("file disk1.vmdk does not match the manifest hipchat-node.mf")),
		}, {
			PreConfig: func() {
				if items, ok := acctest.Libraries(t)[lib]; ok {
					t.Errorf("content library %q is left after the refused upload, with items %q", lib, items)
				}
			},
			Config:   acctest.ProviderConfig(t),
			PlanOnly: true,
		}},
	})
}

// TestAccLibraryItem_cutDeploy: a deploy whose request is cut off (here the create timeout;
// likewise Ctrl-C or a lost runner) goes on inside vCenter and makes its VM afterwards, which
// vcsim, like a vCenter that ignores the deploy's extraConfig parameters, makes without the
// create marker. The failed apply watches for that VM and removes it, so the next apply
// deploys the node instead of refusing a VM of its name as someone else's.
func TestAccLibraryItem_cutDeploy(t *testing.T) {
	t.Parallel()
	l := acctest.Lab(t)
	const lib, name = "tf-lib-cut", "tf-lib-cut-node"
	cfg := libraryNodes(t, lib, fmt.Sprintf("ova_path = %q", acctest.OVA(t, lab.KindNode, 40)), name)
	withTimeout := strings.Replace(cfg, "library_item = hipchatdc_library_item.node.id\n}",
		"library_item = hipchatdc_library_item.node.id\n  timeouts {\n    create = \"30s\"\n  }\n}", 1)
	if withTimeout == cfg {
		t.Fatal("no timeouts block added")
	}
	var cut *lab.CutDeploy
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.Factories(),
		CheckDestroy:             resource.ComposeAggregateTestCheckFunc(checkNoVM(t, name), checkNoLibrary(t, lib)),
		Steps: []resource.TestStep{
			{
				PreConfig:   func() { cut = l.CutLibraryDeploy(name) },
				Config:      withTimeout,
				ExpectError: regexp.MustCompile(`(?s)Cannot create the VM.*` + acctest.Wrapped(fmt.Sprintf("deploy of %q from library item \"hipchat-node\"", name))),
			},
			{
				// vCenter finished the cut deploy after the apply gave up: nothing of it is left.
				PreConfig: func() {
					ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
					defer cancel()
					moid, ok := cut.Made(ctx)
					if !ok || moid == "" {
						t.Fatalf("the cut deploy made no VM (ran: %v)", ok)
					}
					if vm, ok := acctest.VM(t, name); ok {
						t.Errorf("the cut deploy's VM %s (%s) is left in vSphere as %s", name, moid, vm.Self.Value)
					}
				},
				Config: cfg,
				Check:  checkBooted(t, "hipchatdc_node.n1", name),
			},
		},
	})
}

// TestAccLibraryItem_import: an item brought under Terraform with an import block, configured
// as it was made (source, datastore), is kept: the plan updates the state in place, uploads
// nothing and replaces nothing, and the next plan is empty.
func TestAccLibraryItem_import(t *testing.T) {
	t.Parallel()
	const lib = "tf-lib-import"
	cfg := libraryNodes(t, lib, fmt.Sprintf("ova_path = %q", acctest.OVA(t, lab.KindNode, 40)))
	var id string
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.Factories(),
		CheckDestroy:             checkNoLibrary(t, lib),
		Steps: []resource.TestStep{
			{
				Config: cfg,
				Check: func(s *terraform.State) error {
					id = s.RootModule().Resources["hipchatdc_library_item.node"].Primary.ID
					return nil
				},
			},
			{
				// Terraform forgets the item; vCenter keeps it.
				Config: acctest.ProviderConfig(t) + `
removed {
  from = hipchatdc_library_item.node
  lifecycle {
    destroy = false
  }
}
`,
			},
			{
				Config: cfg + fmt.Sprintf(`
import {
  to = hipchatdc_library_item.node
  id = "%s/hipchat-node"
}
`, lib),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("hipchatdc_library_item.node", plancheck.ResourceActionUpdate),
				}},
				Check: resource.TestCheckResourceAttrWith("hipchatdc_library_item.node", "id", func(got string) error {
					if got != id {
						return fmt.Errorf("the imported item is %s, the one made is %s", got, id)
					}
					return nil
				}),
			},
			{
				Config: cfg,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectEmptyPlan(),
				}},
			},
		},
	})
}

// TestAccLibraryItem_standaloneESXi: a standalone ESXi host has no content library: a library
// item, and a VM deployed from one (the item's ID not yet known, or a literal ID), fail the
// plan on library and library_item, saying what the endpoint is and what to do, before
// anything reaches vSphere.
func TestAccLibraryItem_standaloneESXi(t *testing.T) {
	t.Parallel()
	l := acctest.Lab(t)
	esx := l.StandaloneESXi()[0]
	const name = "tf-lib-esxi-node"
	item := fmt.Sprintf(`
resource "hipchatdc_library_item" "node" {
  library  = "tf-lib-esxi"
  name     = "hipchat-node"
  ova_path = %q
}
`, acctest.OVA(t, lab.KindNode, 40))
	node := func(ref string) string {
		return fmt.Sprintf(`
resource "hipchatdc_node" "app" {
  name         = %q
  library_item = %s
}
`, name, ref)
	}
	onESXi := acctest.ESXiProviderConfig(l, 0, "")
	endpoint := acctest.Wrapped(fmt.Sprintf("vsphere_server %q is VMware ESX", esx.Server))
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.Factories(),
		Steps: []resource.TestStep{
			{
				Config:   onESXi + item + node("hipchatdc_library_item.node.id"),
				PlanOnly: true,
				ExpectError: regexp.MustCompile(`(?s)No content library on a standalone ESXi host.*with hipchatdc_library_item.node.*` + acctest.Wrapped(`library = "tf-lib-esxi":`) + `.*` + endpoint + `.*` +
					acctest.Wrapped("which has no content libraries (a vCenter service): store the OVA with hipchatdc_library_item on a vCenter Server")),
			},
			{
				// An ID known only at apply (Terraform plans nothing after a failed item).
				Config:   onESXi + "resource \"terraform_data\" \"item\" {\n  input = \"6a1c3c9e-1b0e-4c8e-9d7e-3f2a4b5c6d7e\"\n}\n" + node("terraform_data.item.output"),
				PlanOnly: true,
				ExpectError: regexp.MustCompile(`(?s)Placement does not fit the vSphere endpoint.*with hipchatdc_node.app.*` + acctest.Wrapped("library_item = (known after apply):") + `.*` + endpoint + `.*` +
					acctest.Wrapped("deploy from ova_path, ova_url or template instead")),
			},
			{
				Config:      onESXi + node(`"6a1c3c9e-1b0e-4c8e-9d7e-3f2a4b5c6d7e"`),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)Placement does not fit the vSphere endpoint.*` + acctest.Wrapped(`library_item = "6a1c3c9e-1b0e-4c8e-9d7e-3f2a4b5c6d7e":`)),
			},
		},
	})
	if n := l.VMsMadeOnESXi(0, name); n != 0 {
		t.Errorf("ESXi 1 created %d VM(s) called %q", n, name)
	}
}

// TestAccLibraryItem_existingLibraryFull: an existing library's datastore is found by the
// library's own storage backing, not by name in datacenter: with a datacenter in which its
// name does not resolve (as with several datacenters and datacenter unset), the free-space
// check still refuses an OVA larger than the room left, and nothing is added to the library.
func TestAccLibraryItem_existingLibraryFull(t *testing.T) {
	// Not parallel: lab.AddDatastore leaves the datacenter without a default datastore while it runs.
	l := acctest.Lab(t)
	v := l.VSphere()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	full, err := l.AddDatastore(ctx, "tf-lib-full2", 512<<10) // the lab OVA's disk holds 1 MiB
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = full() })
	const lib = "tf-lib-on-full2"
	acctest.WithLibrary(t, func(ctx context.Context, m *library.Manager) {
		dsID := acctest.MOID(t, "/"+v.Datacenter+"/datastore/tf-lib-full2")
		id, err := m.CreateLibrary(ctx, library.Library{Name: lib, Type: "LOCAL", Storage: []library.StorageBacking{{DatastoreID: dsID, Type: "DATASTORE"}}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			acctest.WithLibrary(t, func(ctx context.Context, m *library.Manager) { _ = m.ForceDeleteLibrary(ctx, &library.Library{ID: id}) })
		})
	})
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.Factories(),
		Steps: []resource.TestStep{{
			Config: acctest.ProviderConfig(t) + fmt.Sprintf(`
resource "hipchatdc_library_item" "node" {
  library    = %q
  name       = "hipchat-node"
  datacenter = "tf-no-such-dc"
  ova_path   = %q
}
`, lib, acctest.OVA(t, lab.KindNode, 40)),
			ExpectError: regexp.MustCompile(`(?s)Not enough space on the content library's datastore.*` + acctest.Wrapped(fmt.Sprintf("library = %q:", lib)) + `.*datastore "tf-lib-full2" has 512`),
		}},
	})
	if items := acctest.Libraries(t)[lib]; len(items) != 0 {
		t.Errorf("library %q now holds %q", lib, items)
	}
}
